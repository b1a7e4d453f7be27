"""What leaves the archive: downloads (zip, tar, tar.gz, streamed) and their manifests."""
