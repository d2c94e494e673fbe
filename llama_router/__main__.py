"""``python -m llama_router`` runs the command line."""

from llama_router.cli import main_entry

main_entry()
