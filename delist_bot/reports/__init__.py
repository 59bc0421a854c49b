"""Queue figures for operators and their renderings: terminal, HTML, CSV, digest, health."""
