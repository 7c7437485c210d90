"""OCR pipeline services: orchestrator, prep and ocr, and the code they share (`services.common`)."""
