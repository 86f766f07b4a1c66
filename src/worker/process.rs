//! Handler processes: spawned with clone(CLONE_VM | CLONE_VFORK) + execve, like posix_spawn
//! (never through a shell), each the leader of its own process group, and a supervisor that
//! kills such a group when its lease deadline passes or when the worker dies.
//!
//! The supervisor is forked once, when the worker starts and is still single-threaded, and
//! runs in its own process group, so that Ctrl-Z (SIGTSTP to the terminal's foreground group)
//! or SIGSTOP of the worker does not stop it. It reads a pipe whose write end only the worker
//! holds (close-on-exec). Every record on it is [`RECORD`] bytes (≤ PIPE_BUF, so writes from
//! several threads and children never interleave): a tag, a pid and a deadline in
//! CLOCK_MONOTONIC nanoseconds (the same clock in every process):
//! - `+PID DEADLINE`: written by each handler child itself between clone and execve, so no
//!   handler ever runs unregistered or without a deadline;
//! - `ePID DEADLINE`: written by the worker's renewal thread after each successful renewal;
//! - `-PID`: written by the worker once the group is dead and before the leader is reaped (a
//!   zombie's pid cannot be reused, so the supervisor never signals a stranger).
//!
//! The supervisor polls the pipe with a timeout until the nearest deadline and sends SIGKILL to
//! a group whose deadline has passed without being extended, whatever the worker is doing
//! (killed, stopped, traced, starved). The deadlines it gets are the worker's local lease
//! deadlines, which already lie a safety margin before the expiry written in the database
//! (see [`super::lease`]), so the group is dead before another worker may claim the run.
//! A deadline is checked against a clock reading taken before the pipe is drained, so an
//! extension written before the deadline is always seen before the group would be killed.
//!
//! When the pipe closes (the worker exited, or was killed with `kill -9`), the supervisor sends
//! SIGTERM to every registered group and SIGKILL (grandchildren included) [`KILL_GRACE`]
//! later or at the group's deadline, whichever is earlier, and exits: a worker killed a moment
//! before a deadline does not give its handler a grace that runs past the lease.
//!
//! A handler that leaves its process group (`setsid`) escapes this; nothing short of cgroups
//! would catch it.

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, killpg, pthread_sigmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::time::{clock_gettime, ClockId};
use nix::unistd::{
    dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe2, read, setpgid, ForkResult, Pid,
};
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How long the handlers of a dead worker get between SIGTERM and SIGKILL at most (less when
/// their lease deadline comes sooner).
pub const KILL_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// The size of every record on the supervisor pipe: tag, pid, deadline.
pub const RECORD: usize = 13;
const _: () = assert!(RECORD <= libc::PIPE_BUF);

/// The worker's end of the supervisor pipe (None once stopped), shared with [`Link`]s.
type Pipe = Arc<Mutex<Option<File>>>;

/// The worker's end of the supervisor pipe.
pub struct Supervisor {
    pid: libc::pid_t,
    pipe: Pipe,
}

/// What the lease renewal keeps to extend the deadline of a handler's group.
#[derive(Debug, Clone)]
pub struct Link {
    pipe: Pipe,
}

impl Link {
    /// Moves the deadline of group `pid` to `deadline` (never earlier than it was: the
    /// supervisor keeps the later one). Atomic: one record ≤ PIPE_BUF.
    pub fn extend(&self, pid: libc::pid_t, deadline: Instant) {
        write_record(&self.pipe, &record(b'e', pid, monotonic_ns(deadline)));
    }
}

fn record(tag: u8, pid: libc::pid_t, deadline_ns: u64) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0] = tag;
    r[1..5].copy_from_slice(&pid.to_ne_bytes());
    r[5..].copy_from_slice(&deadline_ns.to_ne_bytes());
    r
}

fn write_record(pipe: &Pipe, record: &[u8; RECORD]) {
    let mut pipe = pipe.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pipe.as_mut() {
        let _ = p.write_all(record);
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds.
fn monotonic_now_ns() -> u64 {
    // CLOCK_MONOTONIC cannot fail on Linux; 0 would only make deadlines look later.
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |ts| {
        (ts.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec() as u64)
    })
}

/// `at` on CLOCK_MONOTONIC in nanoseconds, never later than `at` (the clock is read before
/// the [`Instant`] it is compared with, so the conversion errs a few microseconds early).
pub fn monotonic_ns(at: Instant) -> u64 {
    let now_ns = monotonic_now_ns();
    let now = Instant::now();
    match at.checked_duration_since(now) {
        Some(ahead) => now_ns.saturating_add(ahead.as_nanos() as u64),
        None => now_ns.saturating_sub(now.duration_since(at).as_nanos() as u64),
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(pipe2(OFlag::O_CLOEXEC)?)
}

/// /dev/null for reading and writing, inherited across exec.
fn dev_null() -> io::Result<File> {
    let null = File::options().read(true).write(true).open("/dev/null")?;
    fcntl(&null, FcntlArg::F_SETFD(FdFlag::empty()))?;
    Ok(null)
}

/// Makes sure descriptors 0, 1 and 2 are open (cron may start us with them closed), so that
/// pipes never land on them and the dup2 calls of a child never clash: /dev/null is opened
/// (it takes the lowest free descriptor) until it lands above 2.
pub fn ensure_std_fds() {
    while let Ok(null) = dev_null() {
        if null.as_raw_fd() > 2 {
            return;
        }
        // Stays open for the life of the process, in place of the missing standard one.
        let _ = OwnedFd::from(null).into_raw_fd();
    }
}

impl Supervisor {
    /// Forks the supervisor. Call while the process is single-threaded.
    pub fn start() -> io::Result<Supervisor> {
        let (read, write) = pipe()?;
        // SAFETY: the process is single-threaded here, so the child may run ordinary code.
        let child = match unsafe { fork() }? {
            ForkResult::Child => {
                drop(write);
                supervise(read);
            }
            ForkResult::Parent { child } => child,
        };
        drop(read);
        Ok(Supervisor {
            pid: child.as_raw(),
            pipe: Arc::new(Mutex::new(Some(File::from(write)))),
        })
    }

    /// A handle to extend deadlines with.
    pub fn link(&self) -> Link {
        Link {
            pipe: Arc::clone(&self.pipe),
        }
    }

    /// The descriptor a handler child writes its registration to.
    /// (-1 after [`Supervisor::stop`]: a registration then fails, and nothing is spawned
    /// after a stop anyway).
    pub fn registration_fd(&self) -> RawFd {
        self.pipe
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(-1, |f| f.as_raw_fd())
    }

    /// Tells the supervisor that group `pid` is gone.
    pub fn forget(&self, pid: libc::pid_t) {
        write_record(&self.pipe, &record(b'-', pid, 0));
    }

    /// Whether the supervisor process still runs (an exited one is left for [`Supervisor::stop`]
    /// to reap).
    pub fn is_alive(&self) -> bool {
        // WNOWAIT leaves an exited child unreaped.
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        matches!(
            waitid(Id::Pid(Pid::from_raw(self.pid)), flags),
            Ok(WaitStatus::StillAlive)
        )
    }

    /// Closes the pipe (the supervisor kills whatever is left and exits) and reaps it.
    pub fn stop(&self) {
        let pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner()).take();
        if pipe.is_none() {
            return;
        }
        drop(pipe);
        let _ = waitpid(Pid::from_raw(self.pid), None);
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A registered handler group as the supervisor sees it.
struct Group {
    pid: libc::pid_t,
    deadline_ns: u64,
    /// Killed at its deadline: later extensions do not revive it.
    killed: bool,
}

/// Applies one record to the registered groups.
fn apply(groups: &mut Vec<Group>, record: &[u8]) {
    let pid = libc::pid_t::from_ne_bytes([record[1], record[2], record[3], record[4]]);
    let mut deadline = [0u8; 8];
    deadline.copy_from_slice(&record[5..RECORD]);
    let deadline_ns = u64::from_ne_bytes(deadline);
    match record[0] {
        b'+' => groups.push(Group {
            pid,
            deadline_ns,
            killed: false,
        }),
        b'e' => {
            for g in groups.iter_mut().filter(|g| g.pid == pid && !g.killed) {
                g.deadline_ns = g.deadline_ns.max(deadline_ns);
            }
        }
        b'-' => groups.retain(|g| g.pid != pid),
        _ => {}
    }
}

/// Reads every record available without blocking; false once the pipe is closed (or broken).
fn drain(fd: &OwnedFd, pending: &mut Vec<u8>, groups: &mut Vec<Group>) -> bool {
    let mut buf = [0u8; RECORD * 64];
    loop {
        let n = match read(fd, &mut buf) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return true,
            Err(_) => return false,
        };
        pending.extend_from_slice(&buf[..n]);
        let whole = pending.len() - pending.len() % RECORD;
        for record in pending[..whole].chunks_exact(RECORD) {
            apply(groups, record);
        }
        pending.drain(..whole);
    }
}

/// The supervisor's life: follow registrations and deadlines, kill every group whose deadline
/// passes, and kill them all once the pipe closes.
fn supervise(read: OwnedFd) -> ! {
    detach_supervisor(&read);
    let mut groups: Vec<Group> = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    loop {
        // The clock is read before draining: an extension written before the deadline has
        // reached the pipe by now, so it is applied before the deadline is judged.
        let now = monotonic_now_ns();
        if !drain(&read, &mut pending, &mut groups) {
            break;
        }
        for g in groups.iter_mut().filter(|g| !g.killed) {
            if g.deadline_ns <= now {
                // The leader is not reaped before its `-` record, so the group id is still
                // this handler's.
                signal_group(g.pid, Some(Signal::SIGKILL));
                g.killed = true;
            }
        }
        let nearest = groups
            .iter()
            .filter(|g| !g.killed)
            .map(|g| g.deadline_ns)
            .min();
        let timeout = match nearest {
            None => PollTimeout::NONE,
            Some(d) => {
                let left_ms = d.saturating_sub(monotonic_now_ns()).div_ceil(1_000_000);
                PollTimeout::try_from(left_ms).unwrap_or(PollTimeout::MAX)
            }
        };
        // EINTR and timeouts both loop around.
        let _ = poll(&mut [PollFd::new(read.as_fd(), PollFlags::POLLIN)], timeout);
    }
    kill_all(&groups);
    // SAFETY: _exit leaves without running the exit handlers the forked copy of the worker
    // inherited; std has no such exit.
    unsafe { libc::_exit(0) }
}

/// Puts the supervisor in its own process group, deaf to the terminal's signals, with its
/// standard descriptors on /dev/null, and makes its pipe non-blocking.
fn detach_supervisor(read: &OwnedFd) {
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: SIG_IGN installs no handler.
        let _ = unsafe { signal::signal(sig, SigHandler::SigIgn) };
    }
    if let Ok(null) = dev_null() {
        let _ = dup2_stdin(&null);
        let _ = dup2_stdout(&null);
        let _ = dup2_stderr(&null);
    }
    if let Ok(flags) = fcntl(read, FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        let _ = fcntl(read, FcntlArg::F_SETFL(flags));
    }
}

/// Sends `sig` (None: only checks) to process group `pgid`; true if it was delivered.
fn signal_group(pgid: libc::pid_t, sig: Option<Signal>) -> bool {
    killpg(Pid::from_raw(pgid), sig).is_ok()
}

/// The end of a worker: SIGTERM to every registered group, SIGKILL to what is left of each
/// after [`KILL_GRACE`] or at its own deadline, whichever comes first (a group past its
/// deadline gets SIGKILL at once): the grace never lets a handler outlive its lease.
fn kill_all(groups: &[Group]) {
    let start = monotonic_now_ns();
    let grace_end = start.saturating_add(KILL_GRACE.as_nanos() as u64);
    // Each group's last moment: already killed ones are signalled again at once (their
    // grandchildren may linger), the others at the earlier of their deadline and the grace.
    let mut left: Vec<(libc::pid_t, u64)> = groups
        .iter()
        .map(|g| {
            let end = if g.killed {
                start
            } else {
                g.deadline_ns.min(grace_end)
            };
            (g.pid, end)
        })
        .collect();
    // SIGTERM first: a `durably step` whose command already finished still records it (it
    // holds SIGTERM back), handlers may clean up; whatever is left is killed at its end.
    for &(pid, end) in &left {
        if end > start {
            signal_group(pid, Some(Signal::SIGTERM));
        }
    }
    loop {
        let now = monotonic_now_ns();
        left.retain(|&(pid, end)| {
            if now >= end {
                signal_group(pid, Some(Signal::SIGKILL));
                false
            } else {
                // A group that is gone needs nothing more.
                signal_group(pid, None)
            }
        });
        let Some(next) = left.iter().map(|&(_, end)| end).min() else {
            return;
        };
        let pause = next.saturating_sub(monotonic_now_ns()).min(10_000_000);
        std::thread::sleep(std::time::Duration::from_nanos(pause));
    }
}

/// A started handler: the leader's pid (= its process group) and its stdio pipes.
pub struct Child {
    pub pid: libc::pid_t,
    pub stdin: File,
    pub stdout: File,
    pub stderr: File,
}

/// How the leader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// What to execute.
pub struct Program {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// The directory it starts in (a command run's), else the worker's.
    cwd: Option<CString>,
}

impl Program {
    pub fn new(
        path: &Path,
        args: &[String],
        env: &[(String, Vec<u8>)],
        cwd: Option<&Path>,
    ) -> io::Result<Program> {
        let c = |b: &[u8]| {
            CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte"))
        };
        let path_c = c(path.as_os_str().as_bytes())?;
        let mut argv = vec![path_c.clone()];
        for a in args {
            argv.push(c(a.as_bytes())?);
        }
        let mut envp = Vec::with_capacity(env.len());
        for (k, v) in env {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v);
            envp.push(c(&kv)?);
        }
        let cwd = cwd.map(|d| c(d.as_os_str().as_bytes())).transpose()?;
        Ok(Program {
            path: path_c,
            argv,
            envp,
            cwd,
        })
    }
}

fn pointers(list: &[CString]) -> Vec<*const libc::c_char> {
    list.iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// What the child of [`spawn`] needs, prepared before the clone; `register_error` and `error`
/// are written by the child (shared memory) when its registration or execve fails.
#[repr(C)]
struct ChildArgs {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// The directory to change to before execve; null: stay in the worker's.
    cwd: *const libc::c_char,
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
    register: RawFd,
    /// The group's lease deadline, CLOCK_MONOTONIC nanoseconds.
    deadline_ns: u64,
    /// The errno of a failed registration (the supervisor is gone).
    register_error: libc::c_int,
    error: libc::c_int,
}

/// The child between clone and execve: it shares the worker's memory (CLONE_VM) while the
/// parent thread is suspended (CLONE_VFORK), so it only makes raw system calls on data
/// prepared beforehand, like glibc's posix_spawn.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points to the ChildArgs of the parent's frame, which stays alive and
    // untouched while the parent is suspended (CLONE_VFORK) until execve or _exit. Everything
    // below is a raw system call on that prepared data: no allocation, no lock, no unwinding,
    // since the child shares the worker's memory and another thread may hold the allocator's
    // lock. Signals arrive blocked (see `spawn`) and are reset to their defaults before they
    // are unblocked, so no handler of the worker runs in the child.
    unsafe {
        let a = &mut *(arg as *mut ChildArgs);
        libc::setpgid(0, 0);
        // SIGPIPE stays ignored until the registration is written: with the supervisor gone
        // the write fails with EPIPE instead of killing the child unnoticed.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        // SIGXFSZ is ignored by the worker (an ignored signal stays ignored across execve).
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGXFSZ,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::dup2(a.stdin, 0);
        libc::dup2(a.stdout, 1);
        libc::dup2(a.stderr, 2);
        let record = record(b'+', libc::getpid(), a.deadline_ns);
        if libc::write(a.register, record.as_ptr().cast(), RECORD) != RECORD as isize {
            let errno = *libc::__errno_location();
            a.register_error = if errno == 0 { libc::EPIPE } else { errno };
            libc::_exit(127)
        }
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        if !a.cwd.is_null() && libc::chdir(a.cwd) != 0 {
            a.error = *libc::__errno_location();
            libc::_exit(127)
        }
        libc::execve(a.path, a.argv, a.envp);
        a.error = *libc::__errno_location();
        libc::_exit(127)
    }
}

/// Starts `program` as the leader of a new process group, registered with the supervisor (to
/// be killed at `deadline` unless extended) before it executes.
///
/// clone(CLONE_VM | CLONE_VFORK) rather than `std::process::Command`: with the `pre_exec`
/// the registration needs, std forks, and `work --until-idle -- true` then ran at 174 instead
/// of 298 runs/s over 1000 runs (medians of three alternating runs; BENCHMARKS.md, "Handler
/// spawn"). On failure to execute, returns
/// the OS error (the child is reaped); when the supervisor is gone, an error of kind
/// [`io::ErrorKind::BrokenPipe`] (nothing was executed).
pub fn spawn(program: &Program, supervisor: &Supervisor, deadline: Instant) -> io::Result<Child> {
    let (in_r, in_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let argv = pointers(&program.argv);
    let envp = pointers(&program.envp);
    let path: &CStr = &program.path;
    let mut args = ChildArgs {
        path: path.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: program
            .cwd
            .as_ref()
            .map_or(std::ptr::null(), |d| d.as_ptr()),
        stdin: in_r.as_raw_fd(),
        stdout: out_w.as_raw_fd(),
        stderr: err_w.as_raw_fd(),
        register: supervisor.registration_fd(),
        deadline_ns: monotonic_ns(deadline),
        register_error: 0,
        error: 0,
    };
    // Uninitialised: zeroing it would cost more than the clone.
    let mut stack: Vec<u8> = Vec::with_capacity(256 * 1024);
    // Signals stay blocked across the clone so that no handler of ours runs in the child
    // before it resets them.
    let mut old = SigSet::empty();
    pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    )?;
    // SAFETY: the stack grows down from its (16-byte aligned) top; the child runs child_main
    // on it and never returns into this frame. nix's clone takes an initialised stack and a
    // boxed closure; libc's takes the uninitialised one and the prepared arguments as is.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.capacity());
        let top = (top as usize & !15) as *mut libc::c_void;
        libc::clone(
            child_main,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut args as *mut ChildArgs).cast(),
        )
    };
    let clone_error = io::Error::last_os_error();
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    if pid == -1 {
        return Err(clone_error);
    }
    drop(stack);
    drop((in_r, out_w, err_w));
    // SAFETY: the child has exec'd or exited (CLONE_VFORK); nobody else writes these fields.
    let register_error = unsafe { std::ptr::read_volatile(&args.register_error) };
    if register_error != 0 {
        reap(pid);
        let cause = io::Error::from_raw_os_error(register_error);
        return Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            format!("the handler supervisor is gone ({cause})"),
        ));
    }
    // SAFETY: as above: the child that could write it has exec'd or exited.
    let error = unsafe { std::ptr::read_volatile(&args.error) };
    if error != 0 {
        supervisor.forget(pid);
        reap(pid);
        return Err(io::Error::from_raw_os_error(error));
    }
    Ok(Child {
        pid,
        stdin: File::from(in_w),
        stdout: File::from(out_r),
        stderr: File::from(err_r),
    })
}

/// `waitid` for the exit of `pid`, leaving it unreaped (`WNOWAIT`), with `flags` added: the
/// siginfo of the exit; with `WNOHANG` while it runs, one whose `si_pid` is 0.
fn wait_unreaped(pid: libc::pid_t, flags: libc::c_int) -> io::Result<libc::siginfo_t> {
    // nix's waitid cannot report a death by a realtime signal (its Signal has none), so this
    // one is raw.
    // SAFETY: siginfo_t is plain data, for which all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes at most one siginfo_t through the pointer, which outlives the call.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT | flags,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

/// Whether the leader `pid` has exited (without waiting, and leaving it unreaped).
pub fn has_exited(pid: libc::pid_t) -> bool {
    match wait_unreaped(pid, libc::WNOHANG) {
        // SAFETY: si_pid is valid after a successful waitid (0 while it runs).
        Ok(info) => unsafe { info.si_pid() != 0 },
        // Interrupted: asked again at the next tick; anything else (no such child): the
        // blocking wait that follows reports it.
        Err(e) => e.kind() != io::ErrorKind::Interrupted,
    }
}

/// Blocks until the leader has exited, without reaping it (its pid, and so the process
/// group id, stays reserved until [`reap`]).
pub fn wait_exit(pid: libc::pid_t) -> io::Result<Exit> {
    loop {
        let info = match wait_unreaped(pid, 0) {
            Ok(info) => info,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // SAFETY: waitid reported a child state change, so si_status is valid.
        let status = unsafe { info.si_status() };
        return Ok(match info.si_code {
            libc::CLD_EXITED => Exit::Code(status),
            _ => Exit::Signal(status),
        });
    }
}

/// Kills the whole process group of a leader that has not been reaped yet.
pub fn kill_group(pid: libc::pid_t) {
    signal_group(pid, Some(Signal::SIGKILL));
}

/// Reaps an exited leader.
pub fn reap(pid: libc::pid_t) {
    while let Err(Errno::EINTR) = waitpid(Pid::from_raw(pid), None) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// With the supervisor gone (its end of the pipe closed), a spawn fails with BrokenPipe
    /// and nothing is executed: the child is not killed by SIGPIPE before it can report.
    #[test]
    fn spawn_without_a_supervisor_is_a_broken_pipe() {
        let (read, write) = pipe().unwrap();
        drop(read);
        let supervisor = Supervisor {
            pid: 0,
            pipe: Arc::new(Mutex::new(Some(File::from(write)))),
        };
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let program = Program::new(
            Path::new("/bin/sh"),
            &["-c".into(), format!("touch '{}'", marker.display())],
            &[],
            None,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let err = spawn(&program, &supervisor, deadline)
            .err()
            .expect("spawn succeeded without a supervisor");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
        assert!(err.to_string().contains("supervisor is gone"), "{err}");
        assert!(!marker.exists(), "the handler was executed");
        // Stopped already: there is no supervisor process to reap.
        supervisor.pipe.lock().unwrap().take();
    }

    /// Records carry the pid and deadline; extensions never move a deadline earlier nor
    /// revive a killed group; `-` forgets.
    #[test]
    fn records_update_the_groups() {
        let mut groups = Vec::new();
        apply(&mut groups, &record(b'+', 41, 1_000));
        apply(&mut groups, &record(b'+', 42, 2_000));
        apply(&mut groups, &record(b'e', 41, 5_000));
        apply(&mut groups, &record(b'e', 41, 3_000));
        assert_eq!(groups[0].deadline_ns, 5_000);
        groups[1].killed = true;
        apply(&mut groups, &record(b'e', 42, 9_000));
        assert_eq!(groups[1].deadline_ns, 2_000);
        apply(&mut groups, &record(b'-', 41, 0));
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].pid, 42);
    }
}
