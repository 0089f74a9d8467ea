"""The Typer layer: parses options, asks prompts, renders results. No logic worth testing alone."""
