//! Writes a [`Tree`] out as an EROFS image (the subset berth needs, read by Linux's `erofs` driver).
//!
//! Layout: block 0 holds the superblock (at byte 1024); file data follows, written while the tar streamed
//! (`FLAT_PLAIN`: whole blocks from `i_u`); then the metadata area: every reachable inode in the extended
//! 64-byte form, its xattrs inline after it, and small file, symlink and directory contents inline after
//! those (`FLAT_INLINE`, never crossing a block); then the blocks of directories too large to inline.
//! Nothing is compressed, no xattr is shared, there is one device.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;

use super::tree::{Data, Id, Kind, ROOT, Tree};

pub(crate) const BLOCK: u64 = 4096;
const BLOCK_BITS: u8 = 12;
const SUPER_OFFSET: u64 = 1024;
const MAGIC: u32 = 0xE0F5_E1E2;
const INODE_SIZE: u64 = 64;
const DIRENT_SIZE: usize = 12;
const XATTR_HEADER: usize = 12;
/// Largest inline xattr area one inode may carry here (the kernel reads it within the inode's block run).
pub(crate) const MAX_XATTR_BYTES: usize = 3072;

const LAYOUT_FLAT_PLAIN: u16 = 0;
const LAYOUT_FLAT_INLINE: u16 = 2;

const FT_REG: u8 = 1;
const FT_DIR: u8 = 2;
const FT_CHR: u8 = 3;
const FT_BLK: u8 = 4;
const FT_FIFO: u8 = 5;
const FT_SYMLINK: u8 = 7;

/// EROFS xattr name prefixes by index; a name under none of them cannot be stored.
const XATTR_PREFIXES: [(u8, &str); 5] =
    [(2, "system.posix_acl_access"), (3, "system.posix_acl_default"), (1, "user."), (4, "trusted."), (6, "security.")];

/// The index and remaining name of an xattr EROFS can hold, or `None`.
pub(crate) fn xattr_prefix(name: &str) -> Option<(u8, &str)> {
    XATTR_PREFIXES.iter().find_map(|(index, prefix)| {
        let rest = name.strip_prefix(prefix)?;
        // The ACL names are whole names; the namespaces need something after the dot.
        let whole = *index == 2 || *index == 3;
        (whole == rest.is_empty()).then_some((*index, rest))
    })
}

/// Bytes the inline xattr area of `xattrs` takes (0 for none).
pub(crate) fn xattr_size(xattrs: &[(String, Vec<u8>)]) -> usize {
    if xattrs.is_empty() {
        return 0;
    }
    XATTR_HEADER
        + xattrs
            .iter()
            .filter_map(|(name, value)| xattr_prefix(name).map(|(_, rest)| align(4 + rest.len() + value.len(), 4)))
            .sum::<usize>()
}

fn align(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Where a directory's entries go.
enum DirBody {
    Inline(Vec<u8>),
    Blocks(Vec<u8>),
}

struct Placed {
    id: Id,
    /// Byte offset of the inode in the image.
    pos: u64,
    nlink: u32,
}

/// Appends the metadata of `tree` to `image`, whose data blocks `1..data_end` are already written, and
/// writes the superblock. Returns the image's size in bytes.
pub(crate) fn write_image(tree: &Tree, image: &mut File, data_end: u32) -> io::Result<u64> {
    // Reachable nodes, parents before children, the root first (its nid must fit the superblock's u16).
    let mut order = vec![ROOT];
    let mut links: HashMap<Id, u32> = HashMap::new();
    let mut i = 0;
    while i < order.len() {
        let dir = order[i];
        i += 1;
        if !tree.node(dir).is_dir() {
            continue;
        }
        for &child in tree.entries(dir).values() {
            let count = links.entry(child).or_insert(0);
            *count += 1;
            // A directory has one name; a file seen again is a hardlink and is placed once.
            if *count == 1 {
                order.push(child);
            }
        }
    }

    let meta_start = u64::from(data_end) * BLOCK;
    let mut pos = meta_start;
    let mut placed = Vec::with_capacity(order.len());
    let mut nid_of: HashMap<Id, u64> = HashMap::with_capacity(order.len());
    let mut dir_sizes: HashMap<Id, (usize, bool)> = HashMap::new();
    for &id in &order {
        let node = tree.node(id);
        let head = INODE_SIZE as usize + xattr_size(&node.xattrs);
        let inline = match &node.kind {
            Kind::Dir { .. } => {
                let size = dir_body_size(tree, id);
                let fits = head + size <= BLOCK as usize && size < BLOCK as usize;
                dir_sizes.insert(id, (size, fits));
                if fits { size } else { 0 }
            }
            Kind::File(Data::Inline(data)) | Kind::Symlink(data) if head + data.len() <= BLOCK as usize => data.len(),
            _ => 0,
        };
        pos = pos.next_multiple_of(32);
        let total = (head + inline) as u64;
        if total <= BLOCK && pos % BLOCK + total > BLOCK {
            pos = pos.next_multiple_of(BLOCK);
        }
        nid_of.insert(id, (pos - meta_start) / 32);
        let nlink = match &node.kind {
            Kind::Dir { entries, .. } => 2 + entries.values().filter(|&&c| tree.node(c).is_dir()).count() as u32,
            _ => links.get(&id).copied().unwrap_or(1),
        };
        placed.push(Placed { id, pos, nlink });
        pos += total;
    }
    let meta_end = pos.next_multiple_of(BLOCK);
    let mut tail_block = meta_end / BLOCK;

    let mut out = BufWriter::with_capacity(1 << 20, &mut *image);
    out.seek(SeekFrom::Start(meta_start))?;
    let mut written = meta_start;
    let mut late: Vec<Vec<u8>> = Vec::new();
    for (ino, p) in placed.iter().enumerate() {
        let node = tree.node(p.id);
        let (ftype, size, layout, iu, inline): (u16, u64, u16, u32, Vec<u8>) = match &node.kind {
            Kind::Dir { entries, parent } => {
                let (size, fits) = dir_sizes[&p.id];
                let body = dir_body(tree, p.id, *parent, entries, &nid_of, size, fits);
                match body {
                    DirBody::Inline(bytes) => (0o040000, size as u64, LAYOUT_FLAT_INLINE, 0, bytes),
                    DirBody::Blocks(bytes) => {
                        let block = tail_block as u32;
                        tail_block += (bytes.len() as u64).div_ceil(BLOCK);
                        late.push(bytes);
                        (0o040000, size as u64, LAYOUT_FLAT_PLAIN, block, Vec::new())
                    }
                }
            }
            Kind::File(Data::Blocks { block, size }) => (0o100000, *size, LAYOUT_FLAT_PLAIN, *block, Vec::new()),
            Kind::File(Data::Inline(data)) | Kind::Symlink(data) => {
                let ftype = if matches!(node.kind, Kind::Symlink(_)) { 0o120000 } else { 0o100000 };
                let head = INODE_SIZE as usize + xattr_size(&node.xattrs);
                if data.is_empty() {
                    (ftype, 0, LAYOUT_FLAT_PLAIN, 0, Vec::new())
                } else if head + data.len() <= BLOCK as usize {
                    (ftype, data.len() as u64, LAYOUT_FLAT_INLINE, 0, data.clone())
                } else {
                    let block = tail_block as u32;
                    tail_block += (data.len() as u64).div_ceil(BLOCK);
                    late.push(data.clone());
                    (ftype, data.len() as u64, LAYOUT_FLAT_PLAIN, block, Vec::new())
                }
            }
            Kind::Char(rdev) => (0o020000, 0, LAYOUT_FLAT_PLAIN, encode_dev(*rdev), Vec::new()),
            Kind::Block(rdev) => (0o060000, 0, LAYOUT_FLAT_PLAIN, encode_dev(*rdev), Vec::new()),
            Kind::Fifo => (0o010000, 0, LAYOUT_FLAT_PLAIN, 0, Vec::new()),
        };
        pad_to(&mut out, &mut written, p.pos)?;
        let xattrs = xattr_body(&node.xattrs);
        let icount: u16 = if xattrs.is_empty() { 0 } else { ((xattrs.len() - XATTR_HEADER) / 4 + 1) as u16 };
        let mut inode = [0u8; INODE_SIZE as usize];
        put16(&mut inode, 0, 1 | (layout << 1));
        put16(&mut inode, 2, icount);
        put16(&mut inode, 4, ftype | (node.mode & 0o7777) as u16);
        put64(&mut inode, 8, size);
        put32(&mut inode, 16, iu);
        put32(&mut inode, 20, ino as u32 + 1);
        put32(&mut inode, 24, node.uid);
        put32(&mut inode, 28, node.gid);
        put64(&mut inode, 32, node.mtime.tv_sec.max(0) as u64);
        put32(&mut inode, 40, node.mtime.tv_nsec as u32);
        put32(&mut inode, 44, p.nlink);
        out.write_all(&inode)?;
        out.write_all(&xattrs)?;
        out.write_all(&inline)?;
        written += (inode.len() + xattrs.len() + inline.len()) as u64;
    }
    pad_to(&mut out, &mut written, meta_end)?;
    for bytes in &late {
        out.write_all(bytes)?;
        written += bytes.len() as u64;
        let end = written.next_multiple_of(BLOCK);
        pad_to(&mut out, &mut written, end)?;
    }
    out.flush()?;
    drop(out);
    let total = tail_block * BLOCK;
    image.set_len(total)?;

    let mut sb = [0u8; 128];
    put32(&mut sb, 0, MAGIC);
    sb[12] = BLOCK_BITS;
    put16(&mut sb, 14, nid_of[&ROOT] as u16);
    put64(&mut sb, 16, placed.len() as u64);
    put32(&mut sb, 36, tail_block as u32);
    put32(&mut sb, 40, data_end);
    image.seek(SeekFrom::Start(SUPER_OFFSET))?;
    image.write_all(&sb)?;
    Ok(total)
}

/// Linux's `new_encode_dev`, which the kernel's EROFS reader decodes.
fn encode_dev(rdev: u64) -> u32 {
    let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

fn pad_to(out: &mut impl Write, written: &mut u64, to: u64) -> io::Result<()> {
    const ZEROS: [u8; BLOCK as usize] = [0; BLOCK as usize];
    while *written < to {
        let n = (to - *written).min(BLOCK) as usize;
        out.write_all(&ZEROS[..n])?;
        *written += n as u64;
    }
    Ok(())
}

fn put16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn xattr_body(xattrs: &[(String, Vec<u8>)]) -> Vec<u8> {
    if xattrs.is_empty() {
        return Vec::new();
    }
    let mut out = vec![0u8; XATTR_HEADER];
    for (name, value) in xattrs {
        let Some((index, rest)) = xattr_prefix(name) else { continue };
        out.push(rest.len() as u8);
        out.push(index);
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        out.extend_from_slice(rest.as_bytes());
        out.extend_from_slice(value);
        out.resize(align(out.len(), 4), 0);
    }
    out
}

fn file_type(kind: &Kind) -> u8 {
    match kind {
        Kind::Dir { .. } => FT_DIR,
        Kind::File(_) => FT_REG,
        Kind::Symlink(_) => FT_SYMLINK,
        Kind::Char(_) => FT_CHR,
        Kind::Block(_) => FT_BLK,
        Kind::Fifo => FT_FIFO,
    }
}

/// A directory's names, `.` and `..` included, in the byte order the kernel's lookup bisects.
fn sorted_names(tree: &Tree, dir: Id) -> Vec<&[u8]> {
    let mut names: Vec<&[u8]> = vec![b".", b".."];
    names.extend(tree.entries(dir).keys().map(|n| n.as_bytes()));
    names.sort_unstable();
    names
}

/// Splits sorted names into directory blocks: each holds its 12-byte dirents, then its names.
fn blocks_of<'a>(names: &[&'a [u8]]) -> Vec<Vec<&'a [u8]>> {
    let mut blocks: Vec<Vec<&[u8]>> = vec![Vec::new()];
    let mut used = 0;
    for name in names {
        let need = DIRENT_SIZE + name.len();
        if used + need > BLOCK as usize {
            blocks.push(Vec::new());
            used = 0;
        }
        used += need;
        blocks.last_mut().expect("one block at least").push(name);
    }
    blocks
}

/// The directory's size: whole blocks, then what the last one uses.
fn dir_body_size(tree: &Tree, dir: Id) -> usize {
    let names = sorted_names(tree, dir);
    let blocks = blocks_of(&names);
    let last: usize = blocks.last().map_or(0, |b| b.iter().map(|n| DIRENT_SIZE + n.len()).sum());
    (blocks.len() - 1) * BLOCK as usize + last
}

fn dir_body(
    tree: &Tree,
    dir: Id,
    parent: Id,
    entries: &std::collections::BTreeMap<std::ffi::OsString, Id>,
    nid_of: &HashMap<Id, u64>,
    size: usize,
    inline: bool,
) -> DirBody {
    let names = sorted_names(tree, dir);
    let blocks = blocks_of(&names);
    let mut out = Vec::with_capacity(size.next_multiple_of(BLOCK as usize));
    for (i, block) in blocks.iter().enumerate() {
        let start = out.len();
        let mut nameoff = block.len() * DIRENT_SIZE;
        for name in block {
            let (target, ftype) = match *name {
                b"." => (dir, FT_DIR),
                b".." => (parent, FT_DIR),
                _ => {
                    let id = entries[std::ffi::OsStr::from_bytes(name)];
                    (id, file_type(&tree.node(id).kind))
                }
            };
            out.extend_from_slice(&nid_of[&target].to_le_bytes());
            out.extend_from_slice(&(nameoff as u16).to_le_bytes());
            out.push(ftype);
            out.push(0);
            nameoff += name.len();
        }
        for name in block {
            out.extend_from_slice(name);
        }
        if i + 1 < blocks.len() {
            out.resize(start + BLOCK as usize, 0);
        }
    }
    debug_assert_eq!(out.len(), size);
    if inline { DirBody::Inline(out) } else { DirBody::Blocks(out) }
}
