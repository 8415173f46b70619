//! One write per commit to SQLite's write-ahead log, instead of two per page.
//!
//! SQLite appends each page of a commit to the `-wal` file as a frame, with two `pwrite` calls: the
//! frame's 24-byte header, then the page, at an offset that is not page-aligned. The ledger commits
//! about 13 pages per group of messages, so 26 writes, each of which costs the kernel more than the
//! bytes do (`bench/README.md`, "Session 9").
//!
//! This module registers a thin VFS, `rapport`, over SQLite's default one, as the process's
//! default. It passes everything through, except that writes to a `-wal` file that continue the
//! previous one are gathered in memory, and written in one call ([`files`]):
//! - once the last frame of a commit is complete (its header says how large the database is after
//!   it), so a commit's frames are in the file before its sync, and any error is SQLite's to see;
//! - in any case before a commit is published: SQLite calls the database file's `xShmBarrier`
//!   between the two copies of the new log-index header that readers compare (and when a read
//!   transaction starts);
//! - before the write lock is released (the log-index lock, or the database file's lock in
//!   exclusive locking mode), so that the frames of a transaction that rolled back never land
//!   later, over frames that another connection has committed meanwhile;
//! - before a sync, a read, a truncation, a size query or a close of the log;
//! - when a write does not continue the gathered bytes, or they would pass [`MOST_GATHERED`].
//!
//! Nothing is gathered where those calls cannot be relied on, and SQLite's writes then go straight
//! through: a log not linked to its database file, a log index on the heap (exclusive locking mode
//! chosen before WAL), writes that are not power-safe (SQLite then pads a commit to a sector and
//! splits its last writes around a sync), and the frame headers that SQLite rewrites at commit,
//! each after reading it back.
//!
//! So what reaches the file is what SQLite asked for, in the same order, before anyone can read it
//! and before it is synced: the log's crash safety (a commit counts once its frames are written
//! and, under `synchronous = FULL`, synced) is unchanged. `tests.rs` reads every case back through
//! SQLite's own VFS, as another process would, and from copies of the files as a `kill -9` leaves
//! them.

mod files;

use files::{DbFile, WRAPPED_OFFSET, WalFile};
use rusqlite::ffi;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::{Mutex, OnceLock};

/// At most this many bytes are gathered: a ledger commit (about 13 frames of 4 KiB) fits. SQLite's
/// unix VFS writes at most 128 KiB less one byte per call (`seekAndWrite` masks the length with
/// `0x1ffff`), and a larger buffer per connection would only serve the rare large transaction.
const MOST_GATHERED: usize = 0xffff;

/// What registering returned: `SQLITE_OK`, or why it failed.
static REGISTERED: OnceLock<c_int> = OnceLock::new();

/// The open database files, by the address of their name: SQLite gives a log the name of its
/// database in the same memory (`sqlite3_filename_database`), which is how the two are linked.
static DATABASES: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

/// Makes the `rapport` VFS the process's default, once, before the store opens a connection.
pub fn register() -> anyhow::Result<()> {
    let rc = *REGISTERED.get_or_init(|| unsafe { make_default() });
    anyhow::ensure!(
        rc == ffi::SQLITE_OK,
        "cannot register SQLite's write-gathering VFS (SQLite error code {rc})"
    );
    Ok(())
}

/// Registers a copy of the default VFS whose `xOpen` wraps database and log files, and whose other
/// methods pass to the default one (which some of them expect as their first argument).
unsafe fn make_default() -> c_int {
    unsafe {
        let rc = ffi::sqlite3_initialize();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let real = ffi::sqlite3_vfs_find(std::ptr::null());
        if real.is_null() {
            return ffi::SQLITE_ERROR;
        }
        let mut vfs: ffi::sqlite3_vfs = std::ptr::read(real);
        vfs.iVersion = vfs.iVersion.min(3);
        vfs.szOsFile = (WRAPPED_OFFSET + (*real).szOsFile as usize) as c_int;
        vfs.pNext = std::ptr::null_mut();
        vfs.zName = c"rapport".as_ptr();
        vfs.pAppData = real.cast();
        vfs.xOpen = Some(open);
        vfs.xDelete = Some(delete);
        vfs.xAccess = Some(access);
        vfs.xFullPathname = Some(full_pathname);
        vfs.xDlOpen = Some(dl_open);
        vfs.xDlError = Some(dl_error);
        vfs.xDlSym = Some(dl_sym);
        vfs.xDlClose = Some(dl_close);
        vfs.xRandomness = Some(randomness);
        vfs.xSleep = Some(sleep);
        vfs.xCurrentTime = Some(current_time);
        vfs.xGetLastError = Some(get_last_error);
        if vfs.iVersion >= 2 {
            vfs.xCurrentTimeInt64 = (*real).xCurrentTimeInt64.map(|_| current_time_int64 as _);
        }
        if vfs.iVersion >= 3 {
            vfs.xSetSystemCall = (*real).xSetSystemCall.map(|_| set_system_call as _);
            vfs.xGetSystemCall = (*real).xGetSystemCall.map(|_| get_system_call as _);
            vfs.xNextSystemCall = (*real).xNextSystemCall.map(|_| next_system_call as _);
        }
        // Registered for the life of the process, as SQLite requires.
        let ours = Box::leak(Box::new(vfs));
        ffi::sqlite3_vfs_register(ours, 1)
    }
}

/// The VFS underneath ours.
fn real(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: `vfs` is ours, whose pAppData is the real VFS (set in `make_default`).
    unsafe { (*vfs).pAppData.cast() }
}

/// Opens a file through the real VFS. A main database file and a log are wrapped: the real file
/// object then lives at [`WRAPPED_OFFSET`] in SQLite's allocation, after ours; other files are the
/// real VFS's own.
unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real = real(vfs);
    unsafe {
        let real_open = (*real).xOpen.expect("every VFS opens files");
        let is_db = flags & ffi::SQLITE_OPEN_MAIN_DB != 0 && !name.is_null();
        let is_wal = flags & ffi::SQLITE_OPEN_WAL != 0 && !name.is_null();
        if !is_db && !is_wal {
            return real_open(real, name, file, flags, out_flags);
        }
        let inner = file
            .cast::<u8>()
            .add(WRAPPED_OFFSET)
            .cast::<ffi::sqlite3_file>();
        let rc = real_open(real, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            (*file).pMethods = std::ptr::null();
            return rc;
        }
        let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
        if is_db {
            DbFile::wrap(file, inner, name as usize);
            databases.insert(name as usize, file as usize);
        } else {
            let db = ffi::sqlite3_filename_database(name);
            let db = databases
                .get(&(db as usize))
                .map_or(std::ptr::null_mut(), |&db| db as *mut DbFile);
            WalFile::wrap(file, inner, db);
        }
        ffi::SQLITE_OK
    }
}

/// Forgets a database file that closes.
fn forget_database(name: usize) {
    let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    databases.remove(&name);
}

/// The VFS methods other than `xOpen`, each passed to the real VFS.
macro_rules! vfs_through {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs $(, $arg: $ty)*) -> $ret {
            let real = real(vfs);
            unsafe { ((*real).$method.expect("the real VFS has it"))(real $(, $arg)*) }
        }
    };
}

type DlSym = Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)>;

vfs_through!(delete, xDelete(name: *const c_char, sync_dir: c_int) -> c_int);
vfs_through!(access, xAccess(name: *const c_char, flags: c_int, out: *mut c_int) -> c_int);
vfs_through!(full_pathname, xFullPathname(name: *const c_char, n: c_int, out: *mut c_char) -> c_int);
vfs_through!(dl_open, xDlOpen(name: *const c_char) -> *mut c_void);
vfs_through!(dl_error, xDlError(n: c_int, out: *mut c_char) -> ());
vfs_through!(dl_sym, xDlSym(handle: *mut c_void, symbol: *const c_char) -> DlSym);
vfs_through!(dl_close, xDlClose(handle: *mut c_void) -> ());
vfs_through!(randomness, xRandomness(n: c_int, out: *mut c_char) -> c_int);
vfs_through!(sleep, xSleep(micros: c_int) -> c_int);
vfs_through!(current_time, xCurrentTime(out: *mut f64) -> c_int);
vfs_through!(get_last_error, xGetLastError(n: c_int, out: *mut c_char) -> c_int);
vfs_through!(current_time_int64, xCurrentTimeInt64(out: *mut ffi::sqlite3_int64) -> c_int);
vfs_through!(set_system_call, xSetSystemCall(name: *const c_char, call: ffi::sqlite3_syscall_ptr) -> c_int);
vfs_through!(get_system_call, xGetSystemCall(name: *const c_char) -> ffi::sqlite3_syscall_ptr);
vfs_through!(next_system_call, xNextSystemCall(name: *const c_char) -> *const c_char);

#[cfg(test)]
mod tests;
