//! The two wrapped files: a log (`-wal`) that gathers its writes, and its database file, whose
//! log-index calls tell the log when the gathered bytes must reach the file.

use super::{MOST_GATHERED, forget_database};
use rusqlite::ffi;
use std::ffi::{c_int, c_void};

/// The size of a WAL frame header, and where it says whether it ends a commit (bytes 4 to 8: the
/// database's size in pages after the commit, zero for other frames).
const FRAME_HEADER: usize = 24;

/// The log's write lock, the first of the log-index locks (`WAL_WRITE_LOCK` in SQLite).
const WRITE_LOCK: c_int = 0;

/// A log: our part, then the real VFS's file object at [`WRAPPED_OFFSET`].
#[repr(C)]
pub(super) struct WalFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// Its database file; null if it could not be linked, and then nothing is gathered.
    db: *mut DbFile,
    /// Bytes written but not yet passed on, to go at `at`.
    gathered: Vec<u8>,
    at: i64,
    /// The last write was the header of a commit's last frame: its page completes the commit.
    ends_commit: bool,
    /// The offset of the last read, if nothing was written since: a frame header written there is
    /// a checksum rewritten at commit, after the frames, and goes straight to the file.
    last_read: Option<i64>,
}

/// A main database file: passed through, but for the log-index calls that publish a commit and
/// release the log's write lock, before which its log's gathered bytes are written.
#[repr(C)]
pub(super) struct DbFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// Its open log, if any.
    wal: *mut WalFile,
    /// The address of its name, its key among the open databases.
    name: usize,
    /// Its log index is shared memory (`xShmMap` was called): only then does SQLite publish
    /// commits and release the write lock through the calls that flush the log. With the index
    /// on the heap (exclusive locking mode) the log is written through.
    shm: bool,
    /// Its methods: those of the real file, wrapped (`base` points here).
    methods: ffi::sqlite3_io_methods,
}

/// Where the real file object starts in SQLite's allocation, after ours (SQLite aligns the
/// allocation for 8 bytes, which this keeps).
pub(super) const WRAPPED_OFFSET: usize = {
    let wal = std::mem::size_of::<WalFile>();
    let db = std::mem::size_of::<DbFile>();
    (if wal > db { wal } else { db }).next_multiple_of(16)
};

impl WalFile {
    /// Makes `file` the log whose real file object is `inner`, linked with `db` (or null).
    ///
    /// # Safety
    /// `file` is SQLite's allocation for this file, `inner` the real file inside it, just opened;
    /// `db` is null or an open [`DbFile`].
    pub(super) unsafe fn wrap(
        file: *mut ffi::sqlite3_file,
        inner: *mut ffi::sqlite3_file,
        db: *mut DbFile,
    ) {
        let wal = file.cast::<WalFile>();
        unsafe {
            wal.write(WalFile {
                base: ffi::sqlite3_file {
                    pMethods: &WAL_METHODS,
                },
                real: inner,
                db,
                gathered: Vec::new(),
                at: 0,
                ends_commit: false,
                last_read: None,
            });
            if !db.is_null() {
                (*db).wal = wal;
            }
        }
    }

    fn real_methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: the real file is open while ours is, and its methods are static.
        unsafe { &*(*self.real).pMethods }
    }

    /// Passes the gathered bytes on, in one write.
    fn flush(&mut self) -> c_int {
        if self.gathered.is_empty() {
            return ffi::SQLITE_OK;
        }
        let Ok(len) = c_int::try_from(self.gathered.len()) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let write = self.real_methods().xWrite.expect("every file is written");
        // SAFETY: the real file is open; the buffer holds `len` bytes.
        let rc = unsafe { write(self.real, self.gathered.as_ptr().cast(), len, self.at) };
        self.gathered.clear();
        rc
    }

    /// Whether writes may be gathered now: the log is linked to its database file, whose log index
    /// is shared memory, and whose writes are power-safe (otherwise SQLite pads a commit to a
    /// sector boundary and splits its last writes around a sync).
    fn gathers(&self) -> bool {
        if self.db.is_null() {
            return false;
        }
        // SAFETY: a linked database file is open until it unlinks itself (in `db_close`).
        let db = unsafe { &*self.db };
        let characteristics = db.real_methods().xDeviceCharacteristics;
        // SAFETY: the real database file is open.
        let power_safe = characteristics
            .is_some_and(|dc| unsafe { dc(db.real) } & ffi::SQLITE_IOCAP_POWERSAFE_OVERWRITE != 0);
        db.shm && power_safe
    }

    fn write(&mut self, bytes: &[u8], offset: i64) -> c_int {
        // The write after the header of a commit's last frame is that frame's page.
        let completes_commit = self.ends_commit;
        let continues = !self.gathered.is_empty()
            && self.at + self.gathered.len() as i64 == offset
            && self.gathered.len() + bytes.len() <= MOST_GATHERED;
        if !continues {
            let rc = self.flush();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            self.at = offset;
        }
        if self.gathered.try_reserve(bytes.len()).is_err() {
            return ffi::SQLITE_IOERR_NOMEM;
        }
        self.gathered.extend_from_slice(bytes);
        self.ends_commit = bytes.len() == FRAME_HEADER && bytes[4..8] != [0, 0, 0, 0];
        if completes_commit || self.gathered.len() > MOST_GATHERED {
            return self.flush();
        }
        ffi::SQLITE_OK
    }
}

/// # Safety
/// `file` is a [`WalFile`] that SQLite opened through [`super::open`].
unsafe fn wal<'f>(file: *mut ffi::sqlite3_file) -> &'f mut WalFile {
    unsafe { &mut *file.cast::<WalFile>() }
}

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    // A log is never mapped to memory nor given a log index: those go to the database file.
    iVersion: 1,
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xLock: Some(wal_lock),
    xUnlock: Some(wal_unlock),
    xCheckReservedLock: Some(wal_check_reserved_lock),
    xFileControl: Some(wal_file_control),
    xSectorSize: Some(wal_sector_size),
    xDeviceCharacteristics: Some(wal_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn wal_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let wal = unsafe { wal(file) };
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let rewrite = wal.last_read.take() == Some(offset);
    if rewrite || !wal.gathers() {
        let rc = wal.flush();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let write = wal.real_methods().xWrite.expect("every file is written");
        return unsafe { write(wal.real, data, amount, offset) };
    }
    // SAFETY: SQLite passes `amount` readable bytes at `data`.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    wal.write(bytes, offset)
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    let wal = unsafe { wal(file) };
    let flushed = wal.flush();
    if !wal.db.is_null() {
        // SAFETY: a linked database file is open until it unlinks itself (in `db_close`).
        unsafe { (*wal.db).wal = std::ptr::null_mut() };
    }
    let close = wal.real_methods().xClose.expect("every file closes");
    let closed = unsafe { close(wal.real) };
    unsafe { std::ptr::drop_in_place(file.cast::<WalFile>()) };
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

/// A log method that writes the gathered bytes first, then calls the real one.
macro_rules! wal_after_flush {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* )) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let wal = unsafe { wal(file) };
            let rc = wal.flush();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            let method = wal.real_methods().$method.expect("every file has it");
            unsafe { method(wal.real $(, $arg)*) }
        }
    };
}

/// A method of a wrapped file (a log, `wal`, or a database file, `db`) passed to the real file's as
/// it is.
macro_rules! through {
    ($file:ident: $name:ident, $method:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            let file = unsafe { $file(file) };
            let method = file
                .real_methods()
                .$method
                .expect("SQLite asks only for the methods the real file has");
            unsafe { method(file.real $(, $arg)*) }
        }
    };
}

unsafe extern "C" fn wal_read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let wal = unsafe { wal(file) };
    let rc = wal.flush();
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    wal.last_read = Some(offset);
    let read = wal.real_methods().xRead.expect("every file is read");
    unsafe { read(wal.real, data, amount, offset) }
}

wal_after_flush!(wal_truncate, xTruncate(size: i64));
wal_after_flush!(wal_sync, xSync(flags: c_int));
wal_after_flush!(wal_file_size, xFileSize(size: *mut i64));
wal_after_flush!(wal_file_control, xFileControl(op: c_int, arg: *mut c_void));
through!(wal: wal_lock, xLock(level: c_int) -> c_int);
through!(wal: wal_unlock, xUnlock(level: c_int) -> c_int);
through!(wal: wal_check_reserved_lock, xCheckReservedLock(out: *mut c_int) -> c_int);
through!(wal: wal_sector_size, xSectorSize() -> c_int);
through!(wal: wal_device_characteristics, xDeviceCharacteristics() -> c_int);

impl DbFile {
    /// Makes `file` the database file whose real file object is `inner`, named at `name`.
    ///
    /// # Safety
    /// `file` is SQLite's allocation for this file, `inner` the real file inside it, just opened.
    pub(super) unsafe fn wrap(
        file: *mut ffi::sqlite3_file,
        inner: *mut ffi::sqlite3_file,
        name: usize,
    ) {
        unsafe {
            let db = file.cast::<DbFile>();
            db.write(DbFile {
                base: ffi::sqlite3_file {
                    pMethods: std::ptr::null(),
                },
                real: inner,
                wal: std::ptr::null_mut(),
                name,
                shm: false,
                methods: db_methods(&*(*inner).pMethods),
            });
            (*db).base.pMethods = &(*db).methods;
        }
    }

    fn real_methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: the real file is open while ours is, and its methods are static.
        unsafe { &*(*self.real).pMethods }
    }

    /// Writes what its log gathered. An error cannot be returned from where this is called, and
    /// none is expected: a commit's frames are written with its last page, where an error is
    /// returned, so what is left here is the frames of a transaction that rolled back, or nothing.
    fn flush_wal(&mut self) {
        if !self.wal.is_null() {
            // SAFETY: a linked log is open until it unlinks itself (in `wal_close`).
            let _ = unsafe { (*self.wal).flush() };
        }
    }
}

/// # Safety
/// `file` is a [`DbFile`] that SQLite opened through [`super::open`].
unsafe fn db<'f>(file: *mut ffi::sqlite3_file) -> &'f mut DbFile {
    unsafe { &mut *file.cast::<DbFile>() }
}

/// The methods of a database file whose real methods are `real`: as many, of the same version, so
/// that SQLite asks for nothing the real file lacks (a file without shared memory has no WAL).
fn db_methods(real: &ffi::sqlite3_io_methods) -> ffi::sqlite3_io_methods {
    let version = real.iVersion.clamp(1, 3);
    let v2 = version >= 2;
    let v3 = version >= 3;
    ffi::sqlite3_io_methods {
        iVersion: version,
        xClose: Some(db_close),
        xRead: Some(db_read),
        xWrite: Some(db_write),
        xTruncate: Some(db_truncate),
        xSync: Some(db_sync),
        xFileSize: Some(db_file_size),
        xLock: Some(db_lock),
        xUnlock: Some(db_unlock),
        xCheckReservedLock: Some(db_check_reserved_lock),
        xFileControl: Some(db_file_control),
        xSectorSize: Some(db_sector_size),
        xDeviceCharacteristics: Some(db_device_characteristics),
        xShmMap: real.xShmMap.filter(|_| v2).map(|_| db_shm_map as _),
        xShmLock: real.xShmLock.filter(|_| v2).map(|_| db_shm_lock as _),
        xShmBarrier: real.xShmBarrier.filter(|_| v2).map(|_| db_shm_barrier as _),
        xShmUnmap: real.xShmUnmap.filter(|_| v2).map(|_| db_shm_unmap as _),
        xFetch: real.xFetch.filter(|_| v3).map(|_| db_fetch as _),
        xUnfetch: real.xUnfetch.filter(|_| v3).map(|_| db_unfetch as _),
    }
}

unsafe extern "C" fn db_close(file: *mut ffi::sqlite3_file) -> c_int {
    let db = unsafe { db(file) };
    db.flush_wal();
    if !db.wal.is_null() {
        // A log closed after its database (SQLite closes it first) is written through.
        unsafe { (*db.wal).db = std::ptr::null_mut() };
    }
    forget_database(db.name);
    let close = db.real_methods().xClose.expect("every file closes");
    let closed = unsafe { close(db.real) };
    unsafe { std::ptr::drop_in_place(file.cast::<DbFile>()) };
    closed
}

/// Publishing a commit: SQLite writes the new log-index header twice, with this barrier between
/// the copies, and readers trust it only once the copies agree. The commit's frames go first.
unsafe extern "C" fn db_shm_barrier(file: *mut ffi::sqlite3_file) {
    let db = unsafe { db(file) };
    db.flush_wal();
    let barrier = db.real_methods().xShmBarrier.expect("a version-2 method");
    unsafe { barrier(db.real) }
}

/// Releasing the log's write lock: what a transaction that rolled back left gathered goes first,
/// where SQLite would have written it, before another connection may write there.
unsafe extern "C" fn db_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    let db = unsafe { db(file) };
    if flags & ffi::SQLITE_SHM_UNLOCK != 0 && offset <= WRITE_LOCK && WRITE_LOCK < offset + n {
        db.flush_wal();
    }
    let lock = db.real_methods().xShmLock.expect("a version-2 method");
    unsafe { lock(db.real, offset, n, flags) }
}

through!(db: db_read, xRead(data: *mut c_void, amount: c_int, offset: i64) -> c_int);
through!(db: db_write, xWrite(data: *const c_void, amount: c_int, offset: i64) -> c_int);
through!(db: db_truncate, xTruncate(size: i64) -> c_int);
through!(db: db_sync, xSync(flags: c_int) -> c_int);
through!(db: db_file_size, xFileSize(size: *mut i64) -> c_int);
through!(db: db_lock, xLock(level: c_int) -> c_int);
/// Releasing a lock on the database file: in exclusive locking mode SQLite releases no log-index
/// lock, and this is where a transaction ends, so what a rollback left gathered goes first.
unsafe extern "C" fn db_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let db = unsafe { db(file) };
    db.flush_wal();
    let unlock = db.real_methods().xUnlock.expect("every file unlocks");
    unsafe { unlock(db.real, level) }
}

through!(db: db_check_reserved_lock, xCheckReservedLock(out: *mut c_int) -> c_int);
through!(db: db_file_control, xFileControl(op: c_int, arg: *mut c_void) -> c_int);
through!(db: db_sector_size, xSectorSize() -> c_int);
through!(db: db_device_characteristics, xDeviceCharacteristics() -> c_int);
unsafe extern "C" fn db_shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    let db = unsafe { db(file) };
    let map = db
        .real_methods()
        .xShmMap
        .expect("only called when the real file has it");
    let rc = unsafe { map(db.real, page, size, extend, out) };
    db.shm |= rc == ffi::SQLITE_OK;
    rc
}

through!(db: db_shm_unmap, xShmUnmap(delete: c_int) -> c_int);
through!(db: db_fetch, xFetch(offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int);
through!(db: db_unfetch, xUnfetch(offset: i64, page: *mut c_void) -> c_int);
