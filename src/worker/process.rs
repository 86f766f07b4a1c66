//! Handler processes: spawned with clone(CLONE_VM | CLONE_VFORK) + execve, like posix_spawn
//! (never through a shell), each the leader of
//! its own process group, and a supervisor that kills every such group when the worker dies.
//!
//! The supervisor is forked once, when the worker starts and is still single-threaded. It
//! reads a pipe whose write end only the worker holds (close-on-exec). Each handler child,
//! between fork and exec, writes `+PID` into that pipe itself, so there is no moment at which
//! a handler runs unregistered; the worker writes `-PID` once the group is dead and before the
//! leader is reaped (a zombie's pid cannot be reused, so the supervisor never kills a stranger).
//! When the pipe closes (the worker exited, or was killed with `kill -9`), the supervisor sends
//! SIGTERM to every registered group, SIGKILL [`KILL_GRACE`] later (grandchildren included),
//! and exits.
//!
//! A handler that leaves its process group (`setsid`) escapes this; nothing short of cgroups
//! would catch it.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

/// How long the handlers of a dead worker get between SIGTERM and SIGKILL.
pub const KILL_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// The worker's end of the supervisor pipe.
pub struct Supervisor {
    pid: libc::pid_t,
    /// None once stopped.
    pipe: Mutex<Option<File>>,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Makes sure descriptors 0, 1 and 2 are open (cron may start us with them closed), so that
/// pipes never land on them and the dup2 calls of a child never clash.
pub fn ensure_std_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries the descriptor.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: a C string literal; the lowest free descriptor (this one) is taken.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

impl Supervisor {
    /// Forks the supervisor. Call while the process is single-threaded.
    pub fn start() -> io::Result<Supervisor> {
        let (read, write) = pipe()?;
        // SAFETY: the process is single-threaded here, so the child may run ordinary code.
        let pid = cvt(unsafe { libc::fork() })?;
        if pid == 0 {
            drop(write);
            supervise(read);
        }
        drop(read);
        Ok(Supervisor {
            pid,
            pipe: Mutex::new(Some(File::from(write))),
        })
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
        let mut record = [b'-', 0, 0, 0, 0];
        record[1..].copy_from_slice(&pid.to_ne_bytes());
        let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pipe.as_mut() {
            let _ = p.write_all(&record);
        }
    }

    /// Whether the supervisor process still runs (an exited one is left for [`Supervisor::stop`]
    /// to reap).
    pub fn is_alive(&self) -> bool {
        // SAFETY: info is a plain struct waitid fills in; WNOWAIT leaves the child unreaped.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is set by waitid (0 when the child has not exited).
        r == 0 && unsafe { info.si_pid() } == 0
    }

    /// Closes the pipe (the supervisor kills whatever is left and exits) and reaps it.
    pub fn stop(&self) {
        let pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner()).take();
        if pipe.is_none() {
            return;
        }
        drop(pipe);
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The supervisor's life: collect registrations until the pipe closes, then kill them all.
fn supervise(read: OwnedFd) -> ! {
    // SAFETY: plain libc calls in our own single-threaded child.
    unsafe {
        libc::setpgid(0, 0);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
        }
    }
    let mut groups: Vec<libc::pid_t> = Vec::new();
    let mut pipe = File::from(read);
    let mut record = [0u8; 5];
    while pipe.read_exact(&mut record).is_ok() {
        let pid = libc::pid_t::from_ne_bytes([record[1], record[2], record[3], record[4]]);
        match record[0] {
            b'+' => groups.push(pid),
            b'-' => groups.retain(|&g| g != pid),
            _ => {}
        }
    }
    // SIGTERM first: a `durably step` whose command already finished still records it (it
    // holds SIGTERM back), handlers may clean up; whatever is left is killed after the grace.
    // SAFETY (all kill calls): signalling process groups.
    for &pid in &groups {
        unsafe { libc::kill(-pid, libc::SIGTERM) };
    }
    let deadline = std::time::Instant::now() + KILL_GRACE;
    while std::time::Instant::now() < deadline
        && groups.iter().any(|&g| unsafe { libc::kill(-g, 0) } == 0)
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    for &pid in &groups {
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    // SAFETY: leave without running the parent's exit handlers.
    unsafe { libc::_exit(0) }
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
}

impl Program {
    pub fn new(path: &Path, args: &[String], env: &[(String, Vec<u8>)]) -> io::Result<Program> {
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
        Ok(Program {
            path: path_c,
            argv,
            envp,
        })
    }
}

fn pointers(list: &[CString]) -> Vec<*const libc::c_char> {
    list.iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// What the child of [`spawn`] needs, prepared before the clone; `error` is written by the
/// child (shared memory) when execve fails.
#[repr(C)]
struct ChildArgs {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
    register: RawFd,
    error: libc::c_int,
}

/// The child between clone and execve: it shares the worker's memory (CLONE_VM) while the
/// parent thread is suspended (CLONE_VFORK), so it only makes raw system calls on data
/// prepared beforehand, like glibc's posix_spawn.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points to the ChildArgs of the suspended parent frame.
    unsafe {
        let a = &mut *(arg as *mut ChildArgs);
        libc::setpgid(0, 0);
        for sig in [
            libc::SIGPIPE,
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::dup2(a.stdin, 0);
        libc::dup2(a.stdout, 1);
        libc::dup2(a.stderr, 2);
        let me = libc::getpid().to_ne_bytes();
        let record = [b'+', me[0], me[1], me[2], me[3]];
        libc::write(a.register, record.as_ptr().cast(), 5);
        libc::execve(a.path, a.argv, a.envp);
        a.error = *libc::__errno_location();
        libc::_exit(127)
    }
}

/// Starts `program` as the leader of a new process group, registered with the supervisor
/// before it executes. On failure to execute, returns the OS error (the child is reaped).
pub fn spawn(program: &Program, supervisor: &Supervisor) -> io::Result<Child> {
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
        stdin: in_r.as_raw_fd(),
        stdout: out_w.as_raw_fd(),
        stderr: err_w.as_raw_fd(),
        register: supervisor.registration_fd(),
        error: 0,
    };
    // Uninitialised: zeroing it would cost more than the clone.
    let mut stack: Vec<u8> = Vec::with_capacity(256 * 1024);
    // SAFETY: the stack grows down from its (16-byte aligned) top; the child runs child_main
    // on it and never returns into this frame. Signals stay blocked across the clone so that
    // no handler of ours runs in the child before it resets them.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.capacity());
        let top = (top as usize & !15) as *mut libc::c_void;
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child_main,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut args as *mut ChildArgs).cast(),
        );
        let clone_error = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid == -1 {
            return Err(clone_error);
        }
        pid
    };
    drop(stack);
    drop((in_r, out_w, err_w));
    // SAFETY: the child has exec'd or exited (CLONE_VFORK); nobody else writes `error`.
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

/// Blocks until the leader has exited, without reaping it (its pid, and so the process
/// group id, stays reserved until [`reap`]).
pub fn wait_exit(pid: libc::pid_t) -> io::Result<Exit> {
    loop {
        // SAFETY: info is a plain struct waitid fills in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
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
    // SAFETY: signalling a process group whose leader we have not reaped.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
}

/// Reaps an exited leader.
pub fn reap(pid: libc::pid_t) {
    let mut status = 0;
    loop {
        // SAFETY: reaping our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return;
    }
}

/// A signal's name for messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => "signal",
    }
}
