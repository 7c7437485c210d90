"""The orchestrator: turns inbox files into jobs and drives them through PREP and OCR."""
