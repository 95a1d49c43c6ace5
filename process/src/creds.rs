//! A process's user and group ids with Linux's rules for changing them
//! (`setuid`, `setreuid`, `setresuid`, `setfsuid` and the gid forms).
//!
//! Capabilities are modelled as Linux's full set or nothing: a process has
//! `CAP_SETUID`/`CAP_SETGID` exactly while its effective set is full. The
//! transitions are Linux's `cap_emulate_setxuid`: when none of the real,
//! effective and saved uids stays 0 the permitted set is dropped for good
//! (no `SECURE_KEEP_CAPS`); an effective uid leaving 0 drops the effective
//! set; an effective uid returning to 0 raises it from the permitted set.
//! So a process that set all three uids to 33 can never be root again,
//! while one that only changed its effective uid can come back through the
//! saved set-user-ID. `execve` applies [`Credentials::exec`].
//!
//! Neighbours: the kernel's identity syscalls and `fork`/`execve`.

use syscall::Errno;

/// `-1` as an id argument: leave that id unchanged.
pub const UNCHANGED: u32 = u32::MAX;

/// The ids of one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub ruid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub rgid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    /// The permitted capability set is full (else empty).
    pub permitted: bool,
    /// The effective capability set is full (else empty).
    pub effective: bool,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials::ROOT
    }
}

/// One id argument: `None` for -1 (unchanged).
fn arg(id: u32) -> Option<u32> {
    (id != UNCHANGED).then_some(id)
}

impl Credentials {
    /// The first process: root with every capability.
    pub const ROOT: Credentials = Credentials {
        ruid: 0,
        euid: 0,
        suid: 0,
        fsuid: 0,
        rgid: 0,
        egid: 0,
        sgid: 0,
        fsgid: 0,
        permitted: true,
        effective: true,
    };

    /// Holds `CAP_SETUID`, `CAP_SETGID` (and every other capability).
    pub fn privileged(&self) -> bool {
        self.effective
    }

    /// Applies new uids and the capability changes they imply.
    fn set_uids(&mut self, ruid: u32, euid: u32, suid: u32) {
        let had_root = self.ruid == 0 || self.euid == 0 || self.suid == 0;
        if had_root && ruid != 0 && euid != 0 && suid != 0 {
            self.permitted = false;
            self.effective = false;
        }
        if self.euid == 0 && euid != 0 {
            self.effective = false;
        }
        if self.euid != 0 && euid == 0 {
            self.effective = self.permitted;
        }
        self.ruid = ruid;
        self.euid = euid;
        self.suid = suid;
        self.fsuid = euid;
    }

    /// `setuid`: privileged, all three uids; else only the effective one,
    /// to the real or saved uid. `EINVAL` for -1, `EPERM`.
    pub fn setuid(&mut self, uid: u32) -> Result<(), Errno> {
        let uid = arg(uid).ok_or(Errno::EINVAL)?;
        if self.privileged() {
            self.set_uids(uid, uid, uid);
        } else if uid == self.ruid || uid == self.suid {
            self.set_uids(self.ruid, uid, self.suid);
        } else {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// `setreuid`: unprivileged, the real uid may become the real or
    /// effective one, the effective uid the real, effective or saved one.
    /// The saved uid follows the new effective uid when the real uid is
    /// set or the effective one set to a value other than the old real uid.
    pub fn setreuid(&mut self, ruid: u32, euid: u32) -> Result<(), Errno> {
        let (r, e) = (arg(ruid), arg(euid));
        if !self.privileged() {
            if r.is_some_and(|r| r != self.ruid && r != self.euid) {
                return Err(Errno::EPERM);
            }
            if e.is_some_and(|e| e != self.ruid && e != self.euid && e != self.suid) {
                return Err(Errno::EPERM);
            }
        }
        let new_ruid = r.unwrap_or(self.ruid);
        let new_euid = e.unwrap_or(self.euid);
        let new_suid = if r.is_some() || e.is_some_and(|e| e != self.ruid) { new_euid } else { self.suid };
        self.set_uids(new_ruid, new_euid, new_suid);
        Ok(())
    }

    /// `setresuid`: unprivileged, each new id must be one of the current
    /// real, effective and saved uids.
    pub fn setresuid(&mut self, ruid: u32, euid: u32, suid: u32) -> Result<(), Errno> {
        let (r, e, s) = (arg(ruid), arg(euid), arg(suid));
        if !self.privileged() {
            let allowed = |id: u32| id == self.ruid || id == self.euid || id == self.suid;
            if [r, e, s].into_iter().flatten().any(|id| !allowed(id)) {
                return Err(Errno::EPERM);
            }
        }
        self.set_uids(r.unwrap_or(self.ruid), e.unwrap_or(self.euid), s.unwrap_or(self.suid));
        Ok(())
    }

    /// `setfsuid`: always returns the previous fsuid; changes it when
    /// privileged or to one of the real, effective, saved or current fs uids.
    pub fn setfsuid(&mut self, fsuid: u32) -> u32 {
        let old = self.fsuid;
        if let Some(id) = arg(fsuid) {
            if self.privileged() || [self.ruid, self.euid, self.suid, self.fsuid].contains(&id) {
                self.fsuid = id;
            }
        }
        old
    }

    /// `setgid`: as [`Credentials::setuid`] for gids (needs `CAP_SETGID`).
    pub fn setgid(&mut self, gid: u32) -> Result<(), Errno> {
        let gid = arg(gid).ok_or(Errno::EINVAL)?;
        if self.privileged() {
            (self.rgid, self.egid, self.sgid) = (gid, gid, gid);
        } else if gid == self.rgid || gid == self.sgid {
            self.egid = gid;
        } else {
            return Err(Errno::EPERM);
        }
        self.fsgid = self.egid;
        Ok(())
    }

    /// `setregid`: as [`Credentials::setreuid`] for gids.
    pub fn setregid(&mut self, rgid: u32, egid: u32) -> Result<(), Errno> {
        let (r, e) = (arg(rgid), arg(egid));
        if !self.privileged() {
            if r.is_some_and(|r| r != self.rgid && r != self.egid) {
                return Err(Errno::EPERM);
            }
            if e.is_some_and(|e| e != self.rgid && e != self.egid && e != self.sgid) {
                return Err(Errno::EPERM);
            }
        }
        let new_egid = e.unwrap_or(self.egid);
        if r.is_some() || e.is_some_and(|e| e != self.rgid) {
            self.sgid = new_egid;
        }
        self.rgid = r.unwrap_or(self.rgid);
        self.egid = new_egid;
        self.fsgid = new_egid;
        Ok(())
    }

    /// `setresgid`: as [`Credentials::setresuid`] for gids.
    pub fn setresgid(&mut self, rgid: u32, egid: u32, sgid: u32) -> Result<(), Errno> {
        let (r, e, s) = (arg(rgid), arg(egid), arg(sgid));
        if !self.privileged() {
            let allowed = |id: u32| id == self.rgid || id == self.egid || id == self.sgid;
            if [r, e, s].into_iter().flatten().any(|id| !allowed(id)) {
                return Err(Errno::EPERM);
            }
        }
        self.rgid = r.unwrap_or(self.rgid);
        self.egid = e.unwrap_or(self.egid);
        self.sgid = s.unwrap_or(self.sgid);
        self.fsgid = self.egid;
        Ok(())
    }

    /// `setfsgid`: as [`Credentials::setfsuid`] for gids.
    pub fn setfsgid(&mut self, fsgid: u32) -> u32 {
        let old = self.fsgid;
        if let Some(id) = arg(fsgid) {
            if self.privileged() || [self.rgid, self.egid, self.sgid, self.fsgid].contains(&id) {
                self.fsgid = id;
            }
        }
        old
    }

    /// `execve` of a file without set-user-ID or set-group-ID bits: the
    /// saved ids become the effective ones; a process with a uid of 0 gets
    /// the full permitted set (effective too when its effective uid is 0),
    /// any other loses its capabilities (Linux without ambient capabilities).
    pub fn exec(&mut self) {
        self.suid = self.euid;
        self.fsuid = self.euid;
        self.sgid = self.egid;
        self.fsgid = self.egid;
        let root = self.ruid == 0 || self.euid == 0;
        self.permitted = root;
        self.effective = root && self.euid == 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_setuid_drops_for_good() {
        let mut c = Credentials::ROOT;
        c.setuid(33).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid, c.fsuid), (33, 33, 33, 33));
        assert!(!c.privileged());
        assert_eq!(c.setuid(0), Err(Errno::EPERM));
        assert_eq!(c.setresuid(0, UNCHANGED, UNCHANGED), Err(Errno::EPERM));
        assert_eq!(c.setreuid(UNCHANGED, 0), Err(Errno::EPERM));
        assert_eq!(c.setgid(5), Err(Errno::EPERM));
        c.setuid(33).unwrap();
        assert_eq!(c.setuid(UNCHANGED), Err(Errno::EINVAL));
    }

    #[test]
    fn saved_uid_lets_root_come_back() {
        let mut c = Credentials::ROOT;
        c.setresuid(UNCHANGED, 33, UNCHANGED).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (0, 33, 0));
        assert!(!c.privileged() && c.permitted);
        // Unprivileged: only the real or saved uid.
        assert_eq!(c.setuid(44), Err(Errno::EPERM));
        c.setuid(0).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (0, 0, 0));
        assert!(c.privileged());
        // seteuid-style through setreuid keeps the saved uid 0 (e == ruid rule not hit).
        c.setreuid(UNCHANGED, 33).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (0, 33, 33));
        assert_eq!(c.setuid(0), Ok(())); // ruid is still 0
        assert_eq!(c.euid, 0);
    }

    #[test]
    fn setreuid_and_setresuid_rules() {
        let mut c = Credentials::ROOT;
        c.setresuid(10, 20, 30).unwrap();
        assert!(!c.permitted && !c.privileged());
        // Real may become real or effective; effective any of the three.
        assert_eq!(c.setreuid(30, UNCHANGED), Err(Errno::EPERM));
        c.setreuid(20, 10).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (20, 10, 10));
        assert_eq!(c.setresuid(UNCHANGED, 30, UNCHANGED), Err(Errno::EPERM));
        c.setresuid(10, 20, UNCHANGED).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid, c.fsuid), (10, 20, 10, 20));
        c.setresuid(UNCHANGED, UNCHANGED, UNCHANGED).unwrap();
        assert_eq!((c.ruid, c.euid, c.suid), (10, 20, 10));
    }

    #[test]
    fn fsuid_returns_the_old_value() {
        let mut c = Credentials::ROOT;
        assert_eq!(c.setfsuid(7), 0);
        assert_eq!(c.setfsuid(UNCHANGED), 7);
        assert_eq!(c.fsuid, 7);
        c.setresuid(1, 2, 3).unwrap();
        assert_eq!(c.fsuid, 2);
        assert_eq!(c.setfsuid(99), 2);
        assert_eq!(c.fsuid, 2, "unprivileged: not to a stranger's id");
        assert_eq!(c.setfsuid(3), 2);
        assert_eq!(c.fsuid, 3);
        assert_eq!(c.setfsgid(9), 0, "gid side still root's, but no CAP_SETGID");
        assert_eq!(c.fsgid, 0);
    }

    #[test]
    fn gids() {
        let mut c = Credentials::ROOT;
        c.setresgid(1, 2, 3).unwrap();
        assert_eq!((c.rgid, c.egid, c.sgid, c.fsgid), (1, 2, 3, 2));
        c.setuid(50).unwrap();
        assert_eq!(c.setgid(9), Err(Errno::EPERM));
        c.setgid(3).unwrap();
        assert_eq!((c.rgid, c.egid, c.sgid), (1, 3, 3));
        c.setregid(3, UNCHANGED).unwrap();
        assert_eq!((c.rgid, c.egid, c.sgid), (3, 3, 3));
        assert_eq!(c.setregid(UNCHANGED, 1), Err(Errno::EPERM));
        assert_eq!(c.setgid(UNCHANGED), Err(Errno::EINVAL));
    }

    #[test]
    fn exec_resets_saved_ids_and_capabilities() {
        let mut c = Credentials::ROOT;
        c.setresuid(UNCHANGED, 33, UNCHANGED).unwrap();
        c.exec();
        assert_eq!((c.ruid, c.euid, c.suid), (0, 33, 33));
        assert!(c.permitted && !c.effective);
        c.setuid(0).unwrap();
        assert!(c.privileged());
        c.setuid(33).unwrap();
        c.exec();
        assert!(!c.permitted && !c.effective);
    }
}
