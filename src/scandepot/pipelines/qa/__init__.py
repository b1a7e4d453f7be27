"""Image quality metrics after the PCP Quality Assessment Protocol (QAP) and MRIQC.

Only numpy, scipy and nibabel: no FSL, AFNI or ANTs, so no registration. docs/qa.md gives
each formula with its source.
"""
