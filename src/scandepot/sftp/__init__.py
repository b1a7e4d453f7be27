"""The SFTP server (asyncssh): drop accounts write into their project's drop folder,
researchers read the projects they may read. Thin: every rule is ingest/'s."""
