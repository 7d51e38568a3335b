"""The seven commands (train, eval, bake, view, export, localize,
process_data): each module's `main(argv=None) -> int` is both the root
script's body (`python train.py ...`) and the installed entry point
(`jaxnerf-train ...`, pyproject.toml). The top of the import order: nothing
in the package imports them."""
