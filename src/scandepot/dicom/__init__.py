"""DICOM: header extraction, routing rules, synthetic test data."""
