//! Host tests of the errno table and return-value packing.

use super::*;

#[test]
fn values_match_linux() {
    let expected = [
        (Errno::EPERM, 1),
        (Errno::ENOENT, 2),
        (Errno::ESRCH, 3),
        (Errno::EINTR, 4),
        (Errno::EIO, 5),
        (Errno::ENOEXEC, 8),
        (Errno::EBADF, 9),
        (Errno::ECHILD, 10),
        (Errno::EAGAIN, 11),
        (Errno::ENOMEM, 12),
        (Errno::EACCES, 13),
        (Errno::EFAULT, 14),
        (Errno::EEXIST, 17),
        (Errno::ENOTDIR, 20),
        (Errno::EISDIR, 21),
        (Errno::EINVAL, 22),
        (Errno::EMFILE, 24),
        (Errno::ENOTTY, 25),
        (Errno::ESPIPE, 29),
        (Errno::EPIPE, 32),
        (Errno::ERANGE, 34),
        (Errno::ENAMETOOLONG, 36),
        (Errno::ENOSYS, 38),
        (Errno::ENOTEMPTY, 39),
        (Errno::ELOOP, 40),
        (Errno::EOPNOTSUPP, 95),
        (Errno::ETIMEDOUT, 110),
        (Errno::EHWPOISON, 133),
    ];
    for (errno, value) in expected {
        assert_eq!(errno as i32, value, "{}", errno.name());
        assert_eq!(errno.raw(), value);
        assert_eq!(i32::from(errno), value);
    }
}

#[test]
fn aliases() {
    assert_eq!(Errno::EWOULDBLOCK, Errno::EAGAIN);
    assert_eq!(Errno::ENOTSUP.raw(), 95);
    assert_eq!(Errno::EDEADLOCK.raw(), 35);
    // Aliases work in patterns.
    assert!(matches!(Errno::from_raw(11), Some(Errno::EWOULDBLOCK)));
}

#[test]
fn every_number_from_1_to_34_exists() {
    for raw in 1..=34 {
        let errno = Errno::from_raw(raw).unwrap_or_else(|| panic!("no errno {raw}"));
        assert_eq!(errno.raw(), raw);
    }
}

#[test]
fn from_raw_round_trips_and_rejects_unknown() {
    assert_eq!(Errno::ALL.len(), 131, "1..=133 without the unused 41 and 58");
    for &errno in Errno::ALL {
        assert_eq!(Errno::from_raw(errno.raw()), Some(errno));
    }
    for unknown in [0, -1, 41, 58, 134, 512, 4095, i32::MAX, i32::MIN] {
        assert_eq!(Errno::from_raw(unknown), None, "{unknown}");
    }
    assert!(Errno::ALL.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn names_and_messages() {
    assert_eq!(Errno::EFAULT.name(), "EFAULT");
    assert_eq!(Errno::EFAULT.message(), "Bad address");
    assert_eq!(Errno::ENOENT.message(), "No such file or directory");
    assert_eq!(Errno::ENOSYS.message(), "Function not implemented");
    assert_eq!(Errno::E2BIG.name(), "E2BIG");
    assert_eq!(Errno::EOPNOTSUPP.name(), "EOPNOTSUPP");
    assert_eq!(Errno::ENOTSUP.name(), "EOPNOTSUPP");
    assert_eq!(Errno::EFAULT.to_string(), "EFAULT (Bad address)");
    for &errno in Errno::ALL {
        assert!(errno.name().starts_with('E') && errno.name().len() > 1);
        assert!(!errno.message().is_empty());
    }
    let mut names: Vec<_> = Errno::ALL.iter().map(|e| e.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Errno::ALL.len());
}

#[test]
fn as_return_is_negative_errno() {
    assert_eq!(Errno::EPERM.as_return(), -1);
    assert_eq!(Errno::EFAULT.as_return(), -14);
    assert_eq!(Errno::ENOSYS.as_return(), -38);
    for &errno in Errno::ALL {
        assert_eq!(decode_return(errno.as_return()), Err(errno));
        assert_eq!(encode_return(Err(errno)), errno.as_return());
    }
}

#[test]
fn decode_return_ranges() {
    assert_eq!(decode_return(0), Ok(0));
    assert_eq!(decode_return(42), Ok(42));
    assert_eq!(decode_return(isize::MAX), Ok(isize::MAX as usize));
    assert_eq!(decode_return(-1), Err(Errno::EPERM));
    assert_eq!(decode_return(-4095), Err(Errno::EINVAL), "unnamed error numbers decode as EINVAL");
    assert_eq!(error_number(-4095), Some(4095));
    assert_eq!(error_number(-41), Some(41));
    assert_eq!(decode_return(-41), Err(Errno::EINVAL));
    // Below -4095: a value (e.g. an address in the upper half).
    assert_eq!(decode_return(-4096), Ok(-4096isize as usize));
    assert_eq!(decode_return(isize::MIN), Ok(isize::MIN as usize));
    assert_eq!(error_number(-4096), None);
    assert_eq!(error_number(0), None);
    assert_eq!(error_number(isize::MIN), None);
    assert_eq!(encode_return(Ok(7)), 7);
    assert_eq!(decode_return(encode_return(Ok(0xdead_b000))), Ok(0xdead_b000));
}
