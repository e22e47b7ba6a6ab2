"""`python -m textcnn` (and `torchrun -m textcnn`) runs the CLI."""

from textcnn.cli import main

main()
