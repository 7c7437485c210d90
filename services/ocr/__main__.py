"""`python -m services.ocr`: run the OCR stage service."""

from services.ocr.app.main import main

if __name__ == "__main__":  # the pool's spawned workers import this module too, and must not run the service
    main()
