"""The OCR stage service: Tesseract over the pages of a job, per-page outputs, then document.txt and document.pdf."""
