"""The PREP stage service: renders a job's document into clean grayscale page images for OCR."""
