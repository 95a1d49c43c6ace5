//! Ancillary data in `msg_control` (chains of `struct cmsghdr`): sendmsg's
//! parsing with Linux's checks (`__scm_send`) and recvmsg's packing with
//! `put_cmsg`'s and `scm_detach_fds`' truncation rules (CMSG_ALIGN to 8).

use crate::Errno;
use alloc::vec::Vec;

pub const SCM_RIGHTS: u32 = 1;
pub const SCM_CREDENTIALS: u32 = 2;
/// Linux's limit of descriptors in one message.
pub const SCM_MAX_FD: usize = 253;
/// recvmsg flag: the received descriptors are close-on-exec.
pub const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;
/// msg_flags: control data did not fit.
pub const MSG_CTRUNC: u32 = 0x8;
/// `sizeof(struct cmsghdr)`: `size_t cmsg_len; int cmsg_level; int cmsg_type`.
pub const HEADER: usize = 16;
/// `sizeof(struct ucred)`.
pub const UCRED_SIZE: usize = 12;
/// The largest msg_controllen sendmsg takes (Linux: optmem_max, ENOBUFS).
pub const MAX_CONTROL: usize = 20480;

pub const fn align(len: usize) -> usize {
    (len + 7) & !7
}

/// `CMSG_LEN`.
pub const fn len(data: usize) -> usize {
    HEADER + data
}

/// `CMSG_SPACE`.
pub const fn space(data: usize) -> usize {
    HEADER + align(data)
}

/// `struct ucred`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Ucred {
    pub fn from_bytes(b: &[u8]) -> Option<Ucred> {
        let word = |at: usize| Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?));
        Some(Ucred { pid: word(0)? as i32, uid: word(4)?, gid: word(8)? })
    }

    pub fn to_bytes(self) -> [u8; UCRED_SIZE] {
        let mut out = [0u8; UCRED_SIZE];
        out[..4].copy_from_slice(&self.pid.to_le_bytes());
        out[4..8].copy_from_slice(&self.uid.to_le_bytes());
        out[8..].copy_from_slice(&self.gid.to_le_bytes());
        out
    }
}

/// What a sendmsg's control data asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Control {
    /// SCM_RIGHTS descriptors, every such message's in order.
    pub fds: Vec<i32>,
    /// SCM_CREDENTIALS: the credentials the sender claims (the last one).
    pub cred: Option<Ucred>,
}

/// Parses `buf` (the whole msg_control) as Linux does: a header whose
/// length is below the header's or past the buffer's end is EINVAL;
/// levels other than SOL_SOCKET are skipped; an SCM_RIGHTS list beyond
/// SCM_MAX_FD in total, an SCM_CREDENTIALS of the wrong length or an
/// unknown SOL_SOCKET type is EINVAL.
pub fn parse(buf: &[u8]) -> Result<Control, Errno> {
    let mut control = Control::default();
    let mut at = 0usize;
    while buf.len().saturating_sub(at) >= HEADER {
        let word = |o: usize| u32::from_le_bytes([buf[at + o], buf[at + o + 1], buf[at + o + 2], buf[at + o + 3]]);
        let cmsg_len = u64::from_le_bytes(buf[at..at + 8].try_into().map_err(|_| Errno::EINVAL)?);
        let (level, ty) = (word(8), word(12));
        if cmsg_len < HEADER as u64 || cmsg_len > (buf.len() - at) as u64 {
            return Err(Errno::EINVAL);
        }
        let cmsg_len = cmsg_len as usize;
        let data = &buf[at + HEADER..at + cmsg_len];
        if level == crate::net::SOL_SOCKET {
            match ty {
                SCM_RIGHTS => {
                    let count = data.len() / 4;
                    if control.fds.len() + count > SCM_MAX_FD {
                        return Err(Errno::EINVAL);
                    }
                    control.fds.extend(data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])));
                }
                SCM_CREDENTIALS => {
                    if cmsg_len != len(UCRED_SIZE) {
                        return Err(Errno::EINVAL);
                    }
                    control.cred = Ucred::from_bytes(data);
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        at = at.saturating_add(align(cmsg_len));
    }
    Ok(control)
}

/// recvmsg's control buffer of `room` bytes, filled as Linux's `put_cmsg`:
/// what does not fit is cut and `truncated` set (MSG_CTRUNC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packer {
    pub bytes: Vec<u8>,
    room: usize,
    pub truncated: bool,
}

impl Packer {
    pub fn new(room: usize) -> Packer {
        Packer { bytes: Vec::new(), room, truncated: false }
    }

    fn left(&self) -> usize {
        self.room - self.bytes.len()
    }

    /// One SOL_SOCKET message of type `ty`.
    pub fn put(&mut self, ty: u32, data: &[u8]) {
        if self.left() < HEADER {
            self.truncated = true;
            return;
        }
        let mut message = Vec::with_capacity(space(data.len()));
        message.extend_from_slice(&(len(data.len()) as u64).to_le_bytes());
        message.extend_from_slice(&crate::net::SOL_SOCKET.to_le_bytes());
        message.extend_from_slice(&ty.to_le_bytes());
        message.extend_from_slice(data);
        if message.len() > self.left() {
            self.truncated = true;
            message.truncate(self.left());
        } else {
            message.resize(space(data.len()).min(self.left()), 0);
        }
        self.bytes.extend_from_slice(&message);
    }

    /// How many of `count` descriptors fit (`scm_detach_fds`' fdmax); the
    /// caller installs that many and passes them to [`Packer::put_fds`].
    pub fn fds_room(&mut self, count: usize) -> usize {
        let fit = if self.left() > HEADER { (self.left() - HEADER) / 4 } else { 0 };
        if count > fit {
            self.truncated = true;
        }
        count.min(fit)
    }

    pub fn put_fds(&mut self, fds: &[i32]) {
        if fds.is_empty() {
            return;
        }
        let data: Vec<u8> = fds.iter().flat_map(|fd| fd.to_le_bytes()).collect();
        self.put(SCM_RIGHTS, &data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: u32, ty: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(len(data.len()) as u64).to_le_bytes());
        out.extend_from_slice(&level.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(data);
        out.resize(space(data.len()), 0);
        out
    }

    fn fds(list: &[i32]) -> Vec<u8> {
        list.iter().flat_map(|fd| fd.to_le_bytes()).collect()
    }

    #[test]
    fn several_messages_and_fds() {
        let mut buf = cmsg(1, SCM_RIGHTS, &fds(&[3, 4, 5]));
        buf.extend(cmsg(1, SCM_CREDENTIALS, &Ucred { pid: 7, uid: 8, gid: 9 }.to_bytes()));
        buf.extend(cmsg(1, SCM_RIGHTS, &fds(&[6])));
        buf.extend(cmsg(41, 99, &[1, 2, 3]));
        let c = parse(&buf).unwrap();
        assert_eq!(c.fds, [3, 4, 5, 6]);
        assert_eq!(c.cred, Some(Ucred { pid: 7, uid: 8, gid: 9 }));
        // A tail shorter than a header is ignored; an empty control is nothing.
        buf.extend_from_slice(&[0; 15]);
        assert_eq!(parse(&buf).unwrap().fds.len(), 4);
        assert_eq!(parse(&[]).unwrap(), Control::default());
    }

    #[test]
    fn bad_lengths_and_types_are_einval() {
        let mut short = cmsg(1, SCM_RIGHTS, &fds(&[3]));
        short[0] = 8;
        assert_eq!(parse(&short), Err(Errno::EINVAL));
        let mut long = cmsg(1, SCM_RIGHTS, &fds(&[3]));
        long[0] = 200;
        assert_eq!(parse(&long), Err(Errno::EINVAL));
        long[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(parse(&long), Err(Errno::EINVAL));
        assert_eq!(parse(&cmsg(1, 77, &[0; 4])), Err(Errno::EINVAL));
        assert_eq!(parse(&cmsg(1, SCM_CREDENTIALS, &[0; 8])), Err(Errno::EINVAL));
        let many: Vec<i32> = (0..254).collect();
        assert_eq!(parse(&cmsg(1, SCM_RIGHTS, &fds(&many))), Err(Errno::EINVAL));
        let mut split = cmsg(1, SCM_RIGHTS, &fds(&many[..200]));
        split.extend(cmsg(1, SCM_RIGHTS, &fds(&many[..54])));
        assert_eq!(parse(&split), Err(Errno::EINVAL));
        assert_eq!(parse(&cmsg(1, SCM_RIGHTS, &fds(&many[..253]))).unwrap().fds.len(), 253);
    }

    #[test]
    fn packing_truncates_as_linux() {
        let cred = Ucred { pid: 1, uid: 2, gid: 3 }.to_bytes();
        let mut p = Packer::new(64);
        p.put(SCM_CREDENTIALS, &cred);
        assert_eq!(p.bytes.len(), 32);
        assert_eq!(p.fds_room(5), 4);
        p.put_fds(&[10, 11, 12, 13]);
        assert_eq!(p.bytes.len(), 64);
        assert!(p.truncated);
        assert_eq!(u64::from_le_bytes(p.bytes[32..40].try_into().unwrap()), 32);

        // Room for one descriptor (CMSG_LEN(4) = 20): the space is cut to 20.
        let mut p = Packer::new(20);
        assert_eq!(p.fds_room(1), 1);
        p.put_fds(&[9]);
        assert_eq!((p.bytes.len(), p.truncated), (20, false));

        let mut p = Packer::new(10);
        assert_eq!(p.fds_room(2), 0);
        p.put(SCM_CREDENTIALS, &cred);
        assert_eq!((p.bytes.len(), p.truncated), (0, true));

        // Credentials cut short: the header says the full length.
        let mut p = Packer::new(20);
        p.put(SCM_CREDENTIALS, &cred);
        assert_eq!((p.bytes.len(), p.truncated), (20, true));
    }
}
