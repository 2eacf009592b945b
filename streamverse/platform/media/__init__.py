"""The media path: resumable uploads, checks, ffmpeg HLS transcoding, object storage, the job queue."""
