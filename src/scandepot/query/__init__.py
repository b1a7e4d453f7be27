"""Finding DICOM studies, series and instances in the catalog, for whoever may read them.

One engine answers DICOMweb's QIDO-RS and DIMSE's C-FIND: :mod:`scope` says whose view of
the archive a query runs in (one project, or every project the actor may read), the
matching runs as SQL on the catalog, never on files.
"""
