/** Progress of a ZIP build, reported after each file entry. */
export interface ZipProgress {
  /** File entries written so far. */
  entries: number;
  /** File entries the archive will have (empty-directory entries are not counted). */
  totalEntries: number;
  /** Uncompressed bytes read so far. */
  bytes: number;
  /** Uncompressed bytes of every file, as listed when the build started. */
  totalBytes: number;
}

/** Options of `zipDirectory` and `createZipStream`. */
export interface ZipOptions {
  /**
   * Byte-identical output for identical content: fixed timestamps (1980-01-01),
   * fixed modes (0644, or 0755 for executables), no extra fields.
   * @default false
   */
  deterministic?: boolean;
  /**
   * Deflate level for compressible entries, an integer from 0 (store everything) to 9.
   * @default 6
   */
  compressionLevel?: number;
  /**
   * Worker threads that read, checksum and deflate files under 1 MiB, an
   * integer from 0 to 16. `0` does that work on the main thread, one batch
   * (at most 256 files or 512 KiB) per turn of the event loop. Workers are
   * kept warm between builds (terminated after 30 s idle) and never keep the
   * process alive. Larger files are always streamed through yazl on the main
   * thread.
   * @default one per CPU, at most 4, when there are at least 128 files;
   * below that, the warm workers if there are some (none is started), otherwise 0
   */
  workerThreads?: number;
  /** Called after each file entry; an exception thrown here fails the build. @default none */
  onProgress?: (progress: ZipProgress) => void;
  /** Aborts the build; a partial output file is removed. @default none */
  signal?: AbortSignal;
}

/** Result of `zipDirectory`. */
export interface ZipResult {
  /** Number of file entries (empty-directory entries are not counted). */
  entries: number;
  /** Size of the ZIP in bytes. */
  sizeBytes: number;
}
