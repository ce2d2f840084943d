"""Tasks: data, structure and metrics for each problem the denoisers are trained on."""
