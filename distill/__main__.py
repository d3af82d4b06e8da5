"""`python -m distill ...` (and `accelerate launch -m distill train ...`)."""

from distill.cli import app

app()
