"""`ocr-stack`: runs the whole stack (orchestrator, prep, ocr, sidecar) as local child processes."""
