"""Code shared by every service: paths, the job model and its on-disk contract, atomic writes, logging, HTTP glue."""
