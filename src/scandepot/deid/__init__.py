"""De-identification: PS3.15 Annex E with its options, CTP DicomAnonymizer
scripts run natively, consistent pseudonyms, pixel rules, and a verification of every
result. Used as instances are archived (prearchive), on the way out (export, transfers,
pushes) and offline (``scandepot deid``); docs/deid.md."""
