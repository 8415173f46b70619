//! The `rapport` binary: everything happens in the library's [`rapport::cli`].

/// mimalloc for Rust's own allocations: composing a message allocates and frees hundreds of small
/// strings, and glibc's malloc, held to one arena below, took about a sixth of a send's processor
/// time. SQLite's C code keeps glibc's malloc. See bench/README.md for the figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    one_malloc_arena();
    rapport::cli::main()
}

/// glibc gives each thread that allocates its own malloc arena, and keeps what the arena has freed.
/// SQLite runs one thread per connection (sqlx), each holding a page cache that is emptied and
/// filled again as other connections write: four arenas of about 21 MB each made the daemon's peak
/// RSS grow with the audience (105 MB at 250,000 recipients, 55 MB with one arena, no slower).
/// Called before any thread starts.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
