//! Keeps a long-lived helper process (a container's monitor, an exec helper) small. Setup runs much of berth
//! (store, runtime, seccomp, networking); the rest of the helper's life is a poll loop that touches a few
//! pages, mostly asleep. Pages once faulted in stay mapped and count in the helper's RSS, once per container
//! (the kernel maps 64 KiB of code around every faulting address); shedding them when setup is done and
//! again when the loop goes idle keeps an idle helper's resident set to its own private memory.

use std::fs;

use rustix::mm::Advice;

/// Unmaps the clean pages of read-only mappings (code and constants of the berth binary and its libraries:
/// they refault from the page cache if touched again), gives freed heap back to the kernel, and drops the
/// part of the main thread's stack used below the current frame. Best effort: any failure only leaves the
/// memory resident. It costs a read of `/proc/self/smaps` and a few syscalls, and the next work a few
/// minor faults. The code pages go last, so little runs between their shedding and the caller's sleep.
pub(crate) fn shed() {
    let Ok(smaps) = fs::read_to_string("/proc/self/smaps") else { return };
    let ranges = clean_read_only_ranges(&smaps);
    let stack = stack_start(&smaps);
    drop(smaps);
    // libc: malloc_trim belongs to glibc's allocator, not to the kernel that rustix wraps.
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    if let Some(stack) = stack {
        release_stack_below_here(stack);
    }
    for range in &ranges {
        // SAFETY: the range is a whole mapping that cannot be written and holds no private (changed) page,
        // so dropping its pages loses nothing: the next access reads the same bytes from the file.
        let _ =
            unsafe { rustix::mm::madvise(range.0 as *mut std::ffi::c_void, range.1 - range.0, Advice::LinuxDontNeed) };
    }
}

/// `[start, end)` of every mapping that is not writable, maps a file, and has no dirty or anonymous page.
fn clean_read_only_ranges(smaps: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    let mut changed = false;
    let mut finish = |current: Option<(usize, usize)>, changed: bool| {
        if let Some(range) = current.filter(|_| !changed) {
            ranges.push(range);
        }
    };
    for line in smaps.lines() {
        if let Some(range) = mapping_header(line) {
            finish(current, changed);
            current = range;
            changed = false;
        } else if let Some((key, value)) = line.split_once(':') {
            let dirty = matches!(key, "Private_Dirty" | "Shared_Dirty" | "Anonymous" | "Swap");
            if dirty && value.trim() != "0 kB" {
                changed = true;
            }
        }
    }
    finish(current, changed);
    ranges
}

/// For a mapping's header line: `Some(Some(range))` when the mapping qualifies (read-only, file-backed),
/// `Some(None)` for any other mapping, `None` for a field line.
fn mapping_header(line: &str) -> Option<Option<(usize, usize)>> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let (start, end) = (usize::from_str_radix(start, 16).ok()?, usize::from_str_radix(end, 16).ok()?);
    let perms = fields.next()?;
    let inode = fields.nth(2)?;
    let read_only = perms.len() == 4 && !perms.contains('w') && perms.ends_with('p');
    Some((read_only && inode != "0").then_some((start, end)))
}

/// The lowest address of the main thread's stack mapping.
fn stack_start(smaps: &str) -> Option<usize> {
    let line = smaps.lines().find(|l| l.ends_with("[stack]"))?;
    usize::from_str_radix(line.split('-').next()?, 16).ok()
}

/// Drops the main thread's stack pages more than a margin below this frame: deeper calls dirtied them and
/// nothing reads them again (a later call that reaches so deep gets fresh zero pages).
fn release_stack_below_here(stack_start: usize) {
    let here = std::ptr::addr_of!(stack_start) as usize;
    if rustix::thread::gettid() != rustix::process::getpid() {
        return;
    }
    if let Some(len) = dead_stack_len(stack_start, here, rustix::param::page_size()) {
        // SAFETY: the range lies in this thread's stack, whole pages at least a margin below the live frames;
        // its contents are dead.
        let _ = unsafe { rustix::mm::madvise(stack_start as *mut std::ffi::c_void, len, Advice::LinuxDontNeed) };
    }
}

/// How much of the stack from `stack_start` (page-aligned) up to `here` is dead: whole pages of the kernel's
/// size (4 KiB, or 16/64 KiB on some arm64 and ppc64 kernels) ending at least 16 KiB and two pages below
/// `here`, so rounding never reaches a live frame.
fn dead_stack_len(stack_start: usize, here: usize, page: usize) -> Option<usize> {
    let margin = (16 * 1024).max(2 * page);
    let end = here.saturating_sub(margin) & !(page - 1);
    (end > stack_start).then(|| end - stack_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 fe:00 767988                     /usr/bin/berth
Rss:                 100 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0a0100000-55d0a0900000 r-xp 00100000 fe:00 767988                     /usr/bin/berth
Rss:                8000 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0a0900000-55d0a0a00000 r--p 00900000 fe:00 767988                     /usr/bin/berth
Rss:                1000 kB
Private_Dirty:      1000 kB
Anonymous:          1000 kB
55d0a0a00000-55d0a0a10000 rw-p 00a00000 fe:00 767988                     /usr/bin/berth
Private_Dirty:         0 kB
7ff000000000-7ff000010000 r--p 00000000 00:00 0 
Private_Dirty:         0 kB
7ff000010000-7ff000020000 r--s 00000000 fe:00 42                         /shared
Private_Dirty:         0 kB
7ffe00000000-7ffe00021000 rw-p 00000000 00:00 0                          [stack]
Private_Dirty:       132 kB
";

    #[test]
    fn only_clean_private_read_only_file_mappings_are_released() {
        assert_eq!(stack_start(SMAPS), Some(0x7ffe00000000));
        assert_eq!(
            clean_read_only_ranges(SMAPS),
            vec![(0x55d0a0000000, 0x55d0a0100000), (0x55d0a0100000, 0x55d0a0900000)],
            "relocated (dirty) constants, writable, anonymous and shared mappings stay"
        );
    }

    fn rss_file_kb() -> u64 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("RssFile:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn only_whole_dead_pages_of_the_kernels_size_go() {
        let start = 0x7ff0_0000_0000;
        for page in [4096, 16 * 1024, 64 * 1024] {
            let here = start + 1024 * 1024 + 123;
            let len = dead_stack_len(start, here, page).unwrap();
            assert_eq!(len % page, 0, "{page}: whole pages");
            assert!(start + len <= here - 16 * 1024 && start + len <= here - 2 * page, "{page}: a margin below");
        }
        assert_eq!(dead_stack_len(start, start + 8 * 1024, 64 * 1024), None, "nothing dead near the top");
    }

    #[test]
    fn file_pages_leave_the_resident_set_and_code_keeps_running() {
        let before = rss_file_kb();
        shed();
        let after = rss_file_kb();
        assert!(after < before, "RssFile {before} kB before, {after} kB after");
        assert_eq!(clean_read_only_ranges(SMAPS).len(), 2, "code refaults and runs after its pages went");
    }
}
