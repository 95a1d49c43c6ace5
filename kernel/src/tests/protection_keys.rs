//! Protection keys on the real (emulated) CPU: a U/S=1 page tagged with key 1
//! and PKRU rights for key 1. Skipped, never passed, where the kernel runs
//! without PKU.

use paging::Attributes;
use pkru::{Key, Pkru};

use super::ScratchPage;
use crate::arch::{pkey, probe};
use crate::isolation::{self, Level};
use crate::ktest::{TestError, TestResult};
use crate::mm::kernel_data;
use crate::{ensure, ktest};

const PF_PK: u64 = 1 << 5;

fn require_mpk() -> TestResult {
    match isolation::level() {
        Level::Mpk => Ok(()),
        Level::Strict => Err(TestError::Skipped("level strict: kernel pages are supervisor-only, PKRU does not govern them")),
        Level::None => Err(TestError::Skipped("no PKU: isolation level none")),
    }
}

fn key(index: u8) -> Key {
    Key::new(index).expect("valid key index")
}

/// Runs `f` with `pkru` loaded, then restores the kernel's PKRU.
/// Interrupts stay off meanwhile: the interrupt gate returns to kernel code
/// with the kernel's PKRU, not the one the test set.
fn with_pkru<R>(pkru: Pkru, f: impl FnOnce() -> R) -> R {
    crate::arch::cpu::without_interrupts(|| {
        let published = crate::arch::gate::published();
        pkey::set_pkru_published(pkru);
        let result = f();
        pkey::set_kernel_pkru();
        crate::arch::gate::publish(published);
        result
    })
}

fn key1_page() -> Result<ScratchPage, TestError> {
    ScratchPage::map(Attributes { key: key(1), ..kernel_data() }).map_err(TestError::Failed)
}

ktest!(
    fn pkru_access_disable_faults_reads_with_pk_bit() -> TestResult {
        require_mpk()?;
        let page = key1_page()?;
        probe::write_u64(page.virt, 77).map_err(|f| TestError::Failed(alloc::format!("open write: {f:?}")))?;
        let closed = Pkru::KERNEL.deny(key(1));
        let read = with_pkru(closed, || probe::read_u64(page.virt));
        ensure!(matches!(read, Err(f) if f.error_code == PF_PK | 1), "read with AD set: {read:?} (want error 0x21)");
        ensure!(probe::read_u64(page.virt) == Ok(77), "read after reopening the key failed");
        Ok(())
    }
);

ktest!(
    fn pkru_write_disable_faults_only_writes() -> TestResult {
        require_mpk()?;
        let page = key1_page()?;
        let read_only = Pkru::KERNEL.deny_write(key(1));
        let (read, write) = with_pkru(read_only, || (probe::read_u64(page.virt), probe::write_u64(page.virt, 9)));
        ensure!(read == Ok(0), "read with WD set: {read:?}");
        ensure!(matches!(write, Err(f) if f.error_code == PF_PK | 3), "write with WD set: {write:?} (want error 0x23)");
        Ok(())
    }
);

ktest!(
    fn pkru_other_keys_stay_open() -> TestResult {
        require_mpk()?;
        let page1 = key1_page()?;
        let page2 = ScratchPage::map(Attributes { key: key(2), ..kernel_data() }).map_err(TestError::Failed)?;
        let only_key1_closed = Pkru::KERNEL.deny(key(1));
        let (one, two) = with_pkru(only_key1_closed, || (probe::read_u64(page1.virt), probe::write_u64(page2.virt, 3)));
        ensure!(one.is_err(), "key 1 readable while closed");
        ensure!(two.is_ok(), "key 2 write failed while only key 1 was closed: {two:?}");
        Ok(())
    }
);

ktest!(
    fn pkru_register_holds_the_kernel_value() -> TestResult {
        require_mpk()?;
        let now = pkey::pkru();
        ensure!(now == Some(isolation::KERNEL_PKRU), "PKRU is {now:?}");
        Ok(())
    }
);
