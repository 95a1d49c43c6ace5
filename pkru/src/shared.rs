//! Shared objects and shared domains (DESIGN.md, "shared domain";
//! docs/shared-memory.md): MAP_SHARED memory that every process mapping it
//! sees as one set of frames, its pages tagged with the object's key, a key
//! that each member's PKRU opens and no other process's does.
//!
//! - [`SharedObjects`]: every live object, its key (from
//!   [`KeyAllocator::allocate_shared`]), the file it belongs to if any (one
//!   object per file, whoever maps it), its pages by index and its member
//!   count: one per address space that maps any part of it. The last member
//!   leaving hands the object back (its pages, for the caller to write back
//!   and free) and its key goes back to the allocator.
//! - [`Membership`]: the objects one address space is a member of, and the
//!   keys its PKRU opens besides its own ([`Membership::pkru`]).
//!
//! Generic over the frame type `F` and the file identity `N`, so that the
//! bookkeeping runs on the host; the kernel's `mm::shared` supplies frames.

use alloc::collections::BTreeMap;

use crate::{Key, KeyAllocator, KeySet, Pkru};

/// Names one shared object for its life (never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub u64);

/// One shared object.
#[derive(Debug)]
pub struct Object<F, N> {
    pub key: Key,
    pub file: Option<N>,
    /// An anonymous object's size, fixed when it is made (Linux's shmem
    /// size: mremap growth past it is SIGBUS); `u64::MAX` for a file's,
    /// whose size is the file's.
    pub len_pages: u64,
    pages: BTreeMap<u64, F>,
    members: u32,
}

impl<F: Copy, N> Object<F, N> {
    /// Its pages, by index, in index order.
    pub fn pages(&self) -> impl Iterator<Item = (u64, F)> + '_ {
        self.pages.iter().map(|(&index, &frame)| (index, frame))
    }

    /// Address spaces that map some of it.
    pub fn members(&self) -> u32 {
        self.members
    }
}

/// A page was there already: the frame offered is not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTaken<F>(pub F);

/// Every live shared object.
#[derive(Debug)]
pub struct SharedObjects<F, N> {
    objects: BTreeMap<ObjectId, Object<F, N>>,
    by_file: BTreeMap<N, ObjectId>,
    next: u64,
}

impl<F: Copy, N: Ord + Copy> Default for SharedObjects<F, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Copy, N: Ord + Copy> SharedObjects<F, N> {
    pub const fn new() -> Self {
        SharedObjects { objects: BTreeMap::new(), by_file: BTreeMap::new(), next: 1 }
    }

    /// A new anonymous object (MAP_SHARED|MAP_ANONYMOUS) of `len_pages`
    /// pages with its creator as its one member.
    pub fn create(&mut self, keys: &mut KeyAllocator, len_pages: u64) -> ObjectId {
        self.insert(keys, None, len_pages)
    }

    fn insert(&mut self, keys: &mut KeyAllocator, file: Option<N>, len_pages: u64) -> ObjectId {
        let id = ObjectId(self.next);
        self.next = self.next.saturating_add(1);
        let key = keys.allocate_shared();
        self.objects.insert(id, Object { key, file, len_pages, pages: BTreeMap::new(), members: 1 });
        if let Some(file) = file {
            self.by_file.insert(file, id);
        }
        id
    }

    /// The object of `file` with one more member: the one processes already
    /// share, or a new one.
    pub fn join_file(&mut self, keys: &mut KeyAllocator, file: N) -> ObjectId {
        match self.by_file.get(&file).copied() {
            Some(id) => {
                self.join(id);
                id
            }
            None => self.insert(keys, Some(file), u64::MAX),
        }
    }

    /// One more member of `id` (fork: the child maps what the parent maps).
    /// False if there is no such object.
    pub fn join(&mut self, id: ObjectId) -> bool {
        match self.objects.get_mut(&id) {
            Some(object) => {
                object.members = object.members.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// One member of `id` fewer. With the last one the object is gone: it is
    /// returned (its pages are the caller's to write back and free) and its
    /// key goes back to `keys`.
    pub fn leave(&mut self, keys: &mut KeyAllocator, id: ObjectId) -> Option<Object<F, N>> {
        let object = self.objects.get_mut(&id)?;
        object.members = object.members.saturating_sub(1);
        if object.members > 0 {
            return None;
        }
        let object = self.objects.remove(&id)?;
        if let Some(file) = object.file {
            self.by_file.remove(&file);
        }
        // The key was the object's: releasing cannot fail.
        let _ = keys.release_shared(object.key);
        Some(object)
    }

    /// The object `id`.
    pub fn get(&self, id: ObjectId) -> Option<&Object<F, N>> {
        self.objects.get(&id)
    }

    /// The object of `file`, if processes map it shared.
    pub fn of_file(&self, file: N) -> Option<ObjectId> {
        self.by_file.get(&file).copied()
    }

    /// Page `index` of `id`, if it has one yet.
    pub fn page(&self, id: ObjectId, index: u64) -> Option<F> {
        self.objects.get(&id)?.pages.get(&index).copied()
    }

    /// Makes `frame` page `index` of `id`. When the page is there already
    /// (or the object is gone), `frame` is handed back.
    pub fn insert_page(&mut self, id: ObjectId, index: u64, frame: F) -> Result<(), PageTaken<F>> {
        let Some(object) = self.objects.get_mut(&id) else { return Err(PageTaken(frame)) };
        if object.pages.contains_key(&index) {
            return Err(PageTaken(frame));
        }
        object.pages.insert(index, frame);
        Ok(())
    }

    /// The pages of `id` with an index in `[first, end)`.
    pub fn pages_in(&self, id: ObjectId, first: u64, end: u64) -> impl Iterator<Item = (u64, F)> + '_ {
        self.objects.get(&id).into_iter().flat_map(move |object| {
            object.pages.range(first..end.max(first)).map(|(&index, &frame)| (index, frame))
        })
    }

    /// Live objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// The shared objects one address space is a member of, with their keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    objects: BTreeMap<ObjectId, Key>,
}

impl Membership {
    pub const fn new() -> Self {
        Membership { objects: BTreeMap::new() }
    }

    /// Records membership of `id` (key `key`); false if it was one already.
    pub fn add(&mut self, id: ObjectId, key: Key) -> bool {
        self.objects.insert(id, key).is_none()
    }

    pub fn contains(&self, id: ObjectId) -> bool {
        self.objects.contains_key(&id)
    }

    /// Drops the memberships `still_mapped` says no longer hold (nothing of
    /// the object is mapped any more) and returns them, for the caller to
    /// leave each object.
    pub fn retain(&mut self, mut still_mapped: impl FnMut(ObjectId) -> bool) -> alloc::vec::Vec<ObjectId> {
        let gone: alloc::vec::Vec<ObjectId> = self.objects.keys().copied().filter(|&id| !still_mapped(id)).collect();
        for id in &gone {
            self.objects.remove(id);
        }
        gone
    }

    /// Every membership, emptied (exit, exec).
    pub fn take(&mut self) -> alloc::vec::Vec<ObjectId> {
        core::mem::take(&mut self.objects).into_keys().collect()
    }

    /// The objects, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectId, Key)> + '_ {
        self.objects.iter().map(|(&id, &key)| (id, key))
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The shared keys the address space's PKRU opens.
    pub fn keys(&self) -> KeySet {
        self.objects.values().copied().collect()
    }

    /// Whether pages with key `key` belong to this address space's domains:
    /// its own key, or a shared object's it is a member of.
    pub fn opens(&self, own: Key, key: Key) -> bool {
        key == own || self.objects.values().any(|&k| k == key)
    }

    /// The PKRU of a process with key `own` and these memberships.
    pub fn pkru(&self, own: Key) -> Pkru {
        Pkru::for_process(own, self.keys())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Objects = SharedObjects<u64, u32>;

    fn key(i: u8) -> Key {
        Key::new(i).unwrap()
    }

    #[test]
    fn one_object_per_file_and_its_key() {
        let mut keys = KeyAllocator::new();
        let mut objects = Objects::new();
        let a = objects.join_file(&mut keys, 7);
        let b = objects.join_file(&mut keys, 7);
        assert_eq!(a, b, "the same file is the same object");
        assert_eq!(objects.get(a).unwrap().members(), 2);
        assert_eq!(objects.get(a).unwrap().key, Key::SHARED_RESERVED);
        let c = objects.join_file(&mut keys, 8);
        assert_ne!(a, c);
        assert_eq!(objects.of_file(8), Some(c));
        assert_ne!(objects.get(c).unwrap().key, objects.get(a).unwrap().key);
        assert_eq!(objects.len(), 2);
    }

    #[test]
    fn last_member_leaving_returns_the_pages_and_the_key() {
        let mut keys = KeyAllocator::new();
        let mut objects = Objects::new();
        let id = objects.create(&mut keys, 1);
        let k = objects.get(id).unwrap().key;
        assert!(objects.join(id), "fork");
        assert_eq!(objects.insert_page(id, 3, 0x3000), Ok(()));
        assert_eq!(objects.insert_page(id, 3, 0x9000), Err(PageTaken(0x9000)), "a page is filled once");
        assert_eq!(objects.insert_page(id, 1, 0x1000), Ok(()));
        assert_eq!(objects.page(id, 3), Some(0x3000));
        assert_eq!(objects.pages_in(id, 0, 3).collect::<alloc::vec::Vec<_>>(), [(1, 0x1000)]);
        assert!(objects.leave(&mut keys, id).is_none(), "one member left");
        assert_eq!(keys.shared_objects(k), 1);
        let gone = objects.leave(&mut keys, id).expect("the last member");
        assert_eq!(gone.pages().collect::<alloc::vec::Vec<_>>(), [(1, 0x1000), (3, 0x3000)]);
        assert_eq!(keys.shared_objects(k), 0);
        assert!(objects.is_empty());
        assert!(!objects.join(id), "a gone object cannot be joined");
        assert!(objects.leave(&mut keys, id).is_none());
        assert_eq!(objects.insert_page(id, 0, 5), Err(PageTaken(5)));
    }

    #[test]
    fn a_file_object_gone_is_made_anew() {
        let mut keys = KeyAllocator::new();
        let mut objects = Objects::new();
        let first = objects.join_file(&mut keys, 1);
        objects.leave(&mut keys, first).unwrap();
        assert_eq!(objects.of_file(1), None);
        let second = objects.join_file(&mut keys, 1);
        assert_ne!(first, second, "ids are never reused");
    }

    #[test]
    fn membership_keys_and_pkru() {
        let mut keys = KeyAllocator::new();
        let own = keys.allocate(KeySet::EMPTY).unwrap();
        let mut objects = Objects::new();
        let (a, b) = (objects.create(&mut keys, 1), objects.create(&mut keys, 1));
        let (ka, kb) = (objects.get(a).unwrap().key, objects.get(b).unwrap().key);
        let mut member = Membership::new();
        assert_eq!(member.pkru(own), Pkru::for_process(own, KeySet::EMPTY));
        assert!(member.add(a, ka));
        assert!(!member.add(a, ka));
        assert!(member.add(b, kb));
        let pkru = member.pkru(own);
        assert!(pkru.can_write(own) && pkru.can_write(ka) && pkru.can_write(kb));
        assert!(!pkru.can_read(Key::KERNEL));
        assert!(member.opens(own, ka) && !member.opens(own, key(9)));
        // A process that is no member: none of the objects' keys open.
        let other = keys.allocate(KeySet::EMPTY).unwrap();
        let outsider = Membership::new().pkru(other);
        assert!(!outsider.can_read(ka) && !outsider.can_read(kb));
        // Unmapping all of b drops it.
        assert_eq!(member.retain(|id| id == a), [b]);
        assert_eq!(member.keys(), KeySet::EMPTY.with(ka));
        assert_eq!(member.take(), [a]);
        assert!(member.is_empty());
    }

    #[test]
    fn many_objects_never_open_a_process_key() {
        let mut keys = KeyAllocator::new();
        let processes: alloc::vec::Vec<Key> = (0..20).map(|_| keys.allocate(KeySet::EMPTY).unwrap()).collect();
        let mut objects = Objects::new();
        let ids: alloc::vec::Vec<ObjectId> = (0..64).map(|_| objects.create(&mut keys, 1)).collect();
        for &id in &ids {
            let k = objects.get(id).unwrap().key;
            assert!(!processes.contains(&k), "object key {k} is a process's");
        }
        // A process forked after the objects exist gets none of their keys.
        let late = keys.allocate(KeySet::EMPTY).unwrap();
        assert!(ids.iter().all(|&id| objects.get(id).unwrap().key != late));
        for id in ids {
            objects.leave(&mut keys, id).unwrap();
        }
        assert_eq!(keys.shared_keys(), KeySet::EMPTY.with(Key::SHARED_RESERVED));
    }
}
