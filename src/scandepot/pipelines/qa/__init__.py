"""Image quality metrics after the PCP Quality Assessment Protocol (QAP) and MRIQC.

Only numpy, scipy and nibabel: no FSL, AFNI or ANTs, so no registration. docs/qa.md gives
each formula with its source.
"""

# The resource a session's QA reports are kept in. Here, not in run.py, so that what only
# reads the reports (the web pages) does not import numpy and scipy with the metrics.
QA = "QA"
