//! Gzip on every core, as pigz makes it: the stream is cut into 1 MiB chunks, each deflated on a worker
//! thread with the 32 KiB before it as its dictionary and ended by a sync flush (the last one by the final
//! block), and the pieces are written in order between one gzip header and trailer. The result is a
//! single ordinary gzip member that every reader takes (docker, containerd, podman, umoci, gzip), it
//! compresses about as well as one thread would, and its bytes depend only on the input, never on the
//! number of threads, so a layer gives the same blob on any machine.
//!
//! A chunk that is already dense (compressed files, random data: a byte entropy above
//! [`STORE_ENTROPY`]) is stored rather than deflated: deflate gains nothing on it and is at its slowest
//! there. Memory stays bounded: at most a few chunks per thread are in flight.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Uncompressed bytes per chunk.
const CHUNK: usize = 1 << 20;
/// Deflate's window: how much of the previous chunk primes the next one.
const WINDOW: usize = 32 << 10;
/// Bits per byte above which a chunk is stored: Huffman coding alone could save under 0.5% there.
const STORE_ENTROPY: f64 = 7.96;
/// Gzip header: no name, mtime 0, OS unknown (as Go's writer), so the header never varies.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// One chunk for a worker.
struct Job {
    seq: u64,
    data: Vec<u8>,
    /// The end of the previous chunk (empty for the first).
    dict: Vec<u8>,
    last: bool,
}

/// A worker's answer: the chunk's raw deflate and its CRC.
type Done = (u64, io::Result<(Vec<u8>, Crc)>);

/// Compresses what `write` writes into `out` as gzip on `threads` threads (all cores when 0), returning
/// `write`'s result and `out`. `io_err` turns a failure of the compressor or of `out` into `E`.
pub(crate) fn compress<W: Write, T, E>(
    out: W,
    threads: usize,
    write: impl FnOnce(&mut dyn Write) -> Result<T, E>,
    io_err: impl Fn(io::Error) -> E,
) -> Result<(T, W), E> {
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, usize::from) } else { threads };
    let (jobs_tx, jobs_rx) = channel::<Job>();
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let (done_tx, done_rx) = channel::<Done>();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (jobs, done) = (jobs_rx.clone(), done_tx.clone());
            scope.spawn(move || work(&jobs, &done));
        }
        drop(done_tx);
        let mut writer = Chunker::new(out, jobs_tx, done_rx, threads + 2);
        let result = writer.out.write_all(&HEADER).map_err(&io_err).and_then(|()| write(&mut writer));
        // Dropping the writer (on success or failure) closes the job queue, so the workers end.
        result.and_then(|value| writer.finish().map(|out| (value, out)).map_err(&io_err))
    })
}

/// A worker: compresses chunks until the queue closes.
fn work(jobs: &Mutex<Receiver<Job>>, done: &Sender<Done>) {
    loop {
        let job = match jobs.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let result = std::panic::catch_unwind(|| deflate_chunk(&job))
            .unwrap_or_else(|_| Err(io::Error::other("the compressor panicked")));
        if done.send((job.seq, result)).is_err() {
            return;
        }
    }
}

/// One chunk as raw deflate that continues the stream: stored when dense, else deflated with the previous
/// chunk's end as dictionary; a sync flush leaves it on a byte boundary, the last chunk ends the stream.
fn deflate_chunk(job: &Job) -> io::Result<(Vec<u8>, Crc)> {
    let mut crc = Crc::new();
    crc.update(&job.data);
    let level = if entropy(&job.data) > STORE_ENTROPY { Compression::none() } else { Compression::default() };
    let mut deflate = Compress::new(level, false);
    if level != Compression::none() && !job.dict.is_empty() {
        deflate.set_dictionary(&job.dict).map_err(io::Error::other)?;
    }
    let flush = if job.last { FlushCompress::Finish } else { FlushCompress::Sync };
    let mut out = Vec::with_capacity(job.data.len() + job.data.len() / 8 + 1024);
    loop {
        let consumed = usize::try_from(deflate.total_in()).map_err(io::Error::other)?;
        let status = deflate.compress_vec(&job.data[consumed..], &mut out, flush).map_err(io::Error::other)?;
        let all_in = deflate.total_in() == job.data.len() as u64;
        let flushed = if job.last { status == Status::StreamEnd } else { out.len() < out.capacity() };
        if all_in && flushed {
            return Ok((out, crc));
        }
        out.reserve(64 << 10);
    }
}

/// Shannon entropy of the bytes, in bits per byte.
fn entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for &b in data {
        counts[usize::from(b)] += 1;
    }
    let total = data.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / total).map(|p| -p * p.log2()).sum()
}

/// The caller's side: gathers chunks, hands them out, writes the answers in order.
struct Chunker<W> {
    out: W,
    jobs: Sender<Job>,
    done: Receiver<Done>,
    buf: Vec<u8>,
    /// The end of the last chunk handed out: the next one's dictionary.
    tail: Vec<u8>,
    sent: u64,
    written: u64,
    early: BTreeMap<u64, (Vec<u8>, Crc)>,
    crc: Crc,
    max_in_flight: u64,
}

impl<W: Write> Chunker<W> {
    fn new(out: W, jobs: Sender<Job>, done: Receiver<Done>, max_in_flight: usize) -> Self {
        Chunker {
            out,
            jobs,
            done,
            buf: Vec::with_capacity(CHUNK),
            tail: Vec::new(),
            sent: 0,
            written: 0,
            early: BTreeMap::new(),
            crc: Crc::new(),
            max_in_flight: max_in_flight as u64,
        }
    }

    /// Hands the buffered chunk to the workers, first writing out answers while too many are in flight.
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        while self.sent - self.written >= self.max_in_flight {
            self.write_next()?;
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let dict = std::mem::replace(&mut self.tail, data[data.len().saturating_sub(WINDOW)..].to_vec());
        let job = Job { seq: self.sent, data, dict, last };
        self.jobs.send(job).map_err(|_| io::Error::other("the compressor threads are gone"))?;
        self.sent += 1;
        Ok(())
    }

    /// Waits for the next chunk in order and writes it.
    fn write_next(&mut self) -> io::Result<()> {
        let (piece, crc) = loop {
            if let Some(ready) = self.early.remove(&self.written) {
                break ready;
            }
            let (seq, result) = self.done.recv().map_err(|_| io::Error::other("the compressor threads are gone"))?;
            self.early.insert(seq, result?);
        };
        self.out.write_all(&piece)?;
        self.crc.combine(&crc);
        self.written += 1;
        Ok(())
    }

    /// Sends the last chunk, writes every answer and the trailer (CRC-32 and length mod 2^32).
    fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while self.written < self.sent {
            self.write_next()?;
        }
        self.out.write_all(&self.crc.sum().to_le_bytes())?;
        self.out.write_all(&self.crc.amount().to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Chunker<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.dispatch(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gzip(data: &[u8], threads: usize) -> Vec<u8> {
        let ((), out) = compress(Vec::new(), threads, |w| w.write_all(data), |e| e).expect("compress");
        out
    }

    /// The blob's first gzip member, which must hold everything: `GzDecoder` stops at a member's end.
    fn gunzip(blob: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(blob).read_to_end(&mut plain).expect("gunzip");
        plain
    }

    /// Dense bytes from a small xorshift generator (no dependency on a random source).
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    fn text(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while out.len() < len {
            out.extend_from_slice(format!("line {i}: the quick brown fox jumps over the lazy dog\n").as_bytes());
            i += 1;
        }
        out.truncate(len);
        out
    }

    /// Text, noise and text again across chunk boundaries, at sizes around the chunk's.
    #[test]
    fn one_gzip_member_whatever_the_thread_count_read_back_by_gzip() {
        let mut data = text(CHUNK + 1000);
        data.extend(noise(2 * CHUNK + 7, 1));
        data.extend(text(3 * CHUNK / 2));
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, data.len()] {
            let one = gzip(&data[..len], 1);
            assert_eq!(gunzip(&one), &data[..len], "{len} bytes");
            for threads in [2, 3, 8] {
                assert_eq!(gzip(&data[..len], threads), one, "{len} bytes on {threads} threads");
            }
            assert_eq!(&one[..10], &HEADER);
        }

        let blob = gzip(&data, 0);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blob.gz");
        std::fs::write(&path, &blob).expect("write blob");
        let out = std::process::Command::new("gzip").arg("-dc").arg(&path).output().expect("run gzip");
        assert!(out.status.success(), "gzip -d: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout == data, "gzip reads back what went in");
    }

    /// Noise is stored (a few bytes per chunk more than went in), text is deflated as well as one
    /// stream would be, within a little per chunk.
    #[test]
    fn dense_chunks_are_stored_and_text_is_deflated_with_the_previous_window() {
        let dense = noise(3 * CHUNK, 7);
        let blob = gzip(&dense, 2);
        assert!(blob.len() > dense.len() && blob.len() < dense.len() + 1024, "{} of {}", blob.len(), dense.len());

        let plain = text(4 * CHUNK);
        let blob = gzip(&plain, 2);
        let mut serial = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        serial.write_all(&plain).expect("compress");
        let serial = serial.finish().expect("finish");
        assert!(blob.len() <= serial.len() + serial.len() / 20 + 64, "{} vs {}", blob.len(), serial.len());
        assert_eq!(gunzip(&blob), plain);
    }

    #[test]
    fn a_failing_writer_ends_the_workers_and_says_why() {
        #[derive(Debug)]
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let data = text(3 * CHUNK);
        let err = compress(Full, 2, |w| w.write_all(&data), |e| e).unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        let err = compress(Vec::new(), 2, |_| Err::<(), _>(io::Error::other("tar failed")), |e| e).unwrap_err();
        assert_eq!(err.to_string(), "tar failed");
    }
}
