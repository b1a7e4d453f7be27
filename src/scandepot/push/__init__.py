"""Pushes to other nodes: de-identified sessions sent to a DICOMweb STOW-RS endpoint, a
DICOM C-STORE peer, or an XNAT (or another scandepot) by its import service, with the
subjects' clinical records along where the destination takes them.

- destinations.py: the destinations site administrators set up, and the projects allowed
  to push to each; secrets.py keeps their secrets encrypted or in the environment.
- sending.py: what every kind of destination does (:class:`~scandepot.push.sending.Sender`);
  stow.py, dimse.py and xnat.py are the three kinds.
- requests.py: asking for a push (checked, recorded, queued as a job in the one queue);
  task.py: the job (de-identify, send with several in flight, retry, resume, verify).

docs/push.md is the user's and operator's page.
"""
