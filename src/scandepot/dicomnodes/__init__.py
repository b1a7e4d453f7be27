"""DICOM nodes: the peers a site administrator sets up by AE title.

A node is a C-MOVE destination when it has an address, and it gives a peer calling with
its AE title the rights of an account, of a project, or of an account within a project.
What a calling AE title that is no node's gets is a setting (``dicom_unmapped_peers``).
"""
