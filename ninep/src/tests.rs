use alloc::vec::Vec;

use syscall::Errno;
use vfs::NodeKind;
use vfs::remote::{Backend, NewNode};

use crate::client::{Client, Transport};
use crate::wire::{self, Qid, Request, Response, Time, kind};

fn message(ty: u8, tag: u16, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((body.len() + 7) as u32).to_le_bytes());
    m.push(ty);
    m.extend_from_slice(&tag.to_le_bytes());
    m.extend_from_slice(body);
    m
}

fn qid_bytes(q: Qid) -> Vec<u8> {
    let mut b = Vec::from([q.ty]);
    b.extend_from_slice(&q.version.to_le_bytes());
    b.extend_from_slice(&q.path.to_le_bytes());
    b
}

#[test]
fn walk_is_encoded_as_linux_sends_it() {
    let mut out = Vec::new();
    Request::Walk { fid: 1, newfid: 2, names: &[b"a", b"bc"] }.encode(5, 8192, &mut out).unwrap();
    let body = [1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0, b'a', 2, 0, b'b', b'c'];
    assert_eq!(out, message(kind::TWALK, 5, &body));
}

#[test]
fn too_long_messages_and_names_are_refused() {
    let mut out = Vec::new();
    let data = [0u8; 200];
    assert_eq!(Request::Write { fid: 1, offset: 0, data: &data }.encode(1, 100, &mut out), Err(Errno::EMSGSIZE));
    let long = [b'x'; 70_000];
    assert_eq!(Request::Mkdir { dfid: 1, name: &long, mode: 0, gid: 0 }.encode(1, 1 << 20, &mut out), Err(Errno::ENAMETOOLONG));
    let names: Vec<&[u8]> = (0..17).map(|_| &b"a"[..]).collect();
    assert_eq!(Request::Walk { fid: 0, newfid: 1, names: &names }.encode(1, 8192, &mut out), Err(Errno::EINVAL));
}

#[test]
fn errors_come_back_as_linux_errnos() {
    let m = message(kind::RLERROR, 1, &2u32.to_le_bytes());
    assert_eq!(Response::decode(kind::TWALK, 1, &m), Err(Errno::ENOENT));
    let m = message(kind::RLERROR, 1, &100_000u32.to_le_bytes());
    assert_eq!(Response::decode(kind::TWALK, 1, &m), Err(Errno::EIO));
}

#[test]
fn malformed_responses_are_eio() {
    let good = message(kind::TCLUNK + 1, 1, &[]);
    assert_eq!(Response::decode(kind::TCLUNK, 1, &good), Ok(Response::Done));
    // Wrong tag, wrong type, size field lying, trailing bytes, short qid.
    assert_eq!(Response::decode(kind::TCLUNK, 2, &good), Err(Errno::EIO));
    assert_eq!(Response::decode(kind::TREAD, 1, &good), Err(Errno::EIO));
    let mut lying = good.clone();
    lying[0] = 9;
    assert_eq!(Response::decode(kind::TCLUNK, 1, &lying), Err(Errno::EIO));
    assert_eq!(Response::decode(kind::TCLUNK, 1, &message(kind::TCLUNK + 1, 1, &[0])), Err(Errno::EIO));
    assert_eq!(Response::decode(kind::TMKDIR, 1, &message(kind::TMKDIR + 1, 1, &[0; 12])), Err(Errno::EIO));
    // A read whose count runs past the message.
    assert_eq!(Response::decode(kind::TREAD, 1, &message(kind::TREAD + 1, 1, &[9, 0, 0, 0, 1])), Err(Errno::EIO));
    assert_eq!(Response::decode(kind::TREAD, 1, &[1, 2]), Err(Errno::EIO));
}

#[test]
fn getattr_and_dir_entries_decode() {
    let q = Qid { ty: 0, version: 3, path: 77 };
    let mut body = Vec::new();
    body.extend_from_slice(&wire::GETATTR_BASIC.to_le_bytes());
    body.extend(qid_bytes(q));
    for v in [0o100644u32, 1000, 1000] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    for v in [1u64, 0, 5, 4096, 8, 1, 2, 1234, 500, 1300, 7, 0, 0, 0, 0] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let Ok(Response::Attr(attr)) = Response::decode(kind::TGETATTR, 1, &message(kind::TGETATTR + 1, 1, &body)) else { panic!() };
    assert_eq!((attr.qid, attr.mode, attr.uid, attr.size, attr.nlink), (q, 0o100644, 1000, 5, 1));
    assert_eq!((attr.atime, attr.mtime, attr.ctime), (Time { secs: 1, nsecs: 2 }, Time { secs: 1234, nsecs: 500 }, Time { secs: 1300, nsecs: 7 }));

    let mut data = qid_bytes(q);
    data.extend_from_slice(&9u64.to_le_bytes());
    data.push(8);
    data.extend_from_slice(&[3, 0, b'a', b'b', b'c']);
    let entries = wire::parse_dir_entries(&data).unwrap();
    assert_eq!((entries[0].name.as_slice(), entries[0].offset, entries[0].ty), (&b"abc"[..], 9, 8));
    assert_eq!(wire::parse_dir_entries(&data[..data.len() - 1]), Err(Errno::EIO));
}

/// A server with one directory (qid 1) holding one file `f` (qid 2).
struct Fake {
    content: Vec<u8>,
    log: Vec<u8>,
    version: &'static [u8],
}

fn u32_at(m: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(m[at..at + 4].try_into().unwrap())
}

impl Transport for Fake {
    fn exchange(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, Errno> {
        let (ty, tag) = (request[4], u16::from_le_bytes([request[5], request[6]]));
        self.log.push(ty);
        let dir = Qid { ty: wire::QTDIR, version: 0, path: 1 };
        let file = Qid { ty: 0, version: 0, path: 2 };
        let reply = match ty {
            kind::TVERSION => {
                let mut b = 8192u32.to_le_bytes().to_vec();
                b.extend_from_slice(&(self.version.len() as u16).to_le_bytes());
                b.extend_from_slice(self.version);
                message(ty + 1, tag, &b)
            }
            kind::TATTACH => message(ty + 1, tag, &qid_bytes(dir)),
            kind::TWALK => {
                let n = u16::from_le_bytes([request[15], request[16]]);
                if n == 0 {
                    message(ty + 1, tag, &[0, 0])
                } else if &request[19..] == b"f" {
                    let mut b = Vec::from([1, 0]);
                    b.extend(qid_bytes(file));
                    message(ty + 1, tag, &b)
                } else {
                    message(kind::RLERROR, tag, &2u32.to_le_bytes())
                }
            }
            kind::TLOPEN => {
                let mut b = qid_bytes(file);
                b.extend_from_slice(&0u32.to_le_bytes());
                message(ty + 1, tag, &b)
            }
            kind::TREAD => {
                let (offset, count) = (u32_at(request, 11) as usize, u32_at(request, 19) as usize);
                let data = &self.content[offset.min(self.content.len())..(offset + count).min(self.content.len())];
                let mut b = (data.len() as u32).to_le_bytes().to_vec();
                b.extend_from_slice(data);
                message(ty + 1, tag, &b)
            }
            kind::TWRITE => {
                let (offset, count) = (u32_at(request, 11) as usize, u32_at(request, 19) as usize);
                let data = &request[23..23 + count];
                if self.content.len() < offset + count {
                    self.content.resize(offset + count, 0);
                }
                self.content[offset..offset + count].copy_from_slice(data);
                message(ty + 1, tag, &(count as u32).to_le_bytes())
            }
            kind::TCLUNK | kind::TFSYNC => message(ty + 1, tag, &[]),
            _ => message(kind::RLERROR, tag, &95u32.to_le_bytes()),
        };
        response[..reply.len()].copy_from_slice(&reply);
        Ok(reply.len())
    }
}

#[test]
fn a_session_walks_reads_writes_in_chunks_and_fsyncs() {
    let fake = Fake { content: (0..20_000u32).map(|i| i as u8).collect(), log: Vec::new(), version: wire::VERSION };
    let client = Client::attach(fake, 1 << 20, b"", 0).unwrap();
    assert_eq!(client.msize(), 8192, "the server's smaller msize wins");
    let root = client.root();
    assert_eq!(client.kind(root), Ok(NodeKind::Directory));
    assert_eq!(client.walk(root, b"missing"), Err(Errno::ENOENT));
    let f = client.walk(root, b"f").unwrap();
    assert_eq!(client.walk(root, b"f"), Ok(f), "one file, one node");
    assert_eq!(client.kind(f), Ok(NodeKind::File));
    assert_eq!(client.name_of(f), Some((root, b"f".to_vec())));
    let mut buf = alloc::vec![0u8; 20_000];
    assert_eq!(client.read(f, 0, &mut buf), Ok(20_000));
    assert!(buf.iter().enumerate().all(|(i, &b)| b == i as u8));
    assert_eq!(client.read(f, 19_990, &mut buf), Ok(10));
    let data = alloc::vec![7u8; 10_000];
    assert_eq!(client.write(f, 15_000, &data), Ok(10_000));
    assert_eq!(client.fsync(f, false), Ok(()));
    assert_eq!(client.read(root, 0, &mut buf), Err(Errno::EISDIR));
    assert_eq!(client.create(root, b"x", NewNode::Directory, 0o755, 0), Err(Errno::EOPNOTSUPP));
    client.release(f);
    let session = client.session.borrow();
    assert_eq!(session.transport.content.len(), 25_000);
    assert!(session.transport.content[15_000..].iter().all(|&b| b == 7));
    let log = &session.transport.log;
    assert_eq!(log.iter().filter(|&&t| t == kind::TWRITE).count(), 2, "10000 bytes in two Twrites of msize 8192");
    assert_eq!(log.iter().filter(|&&t| t == kind::TLOPEN).count(), 2, "one open fid for reading, one for writing");
    assert_eq!(log.last(), Some(&kind::TCLUNK));
}

#[test]
fn a_server_without_9p2000_l_is_refused() {
    let fake = Fake { content: Vec::new(), log: Vec::new(), version: b"9P2000" };
    assert_eq!(Client::attach(fake, 8192, b"", 0).err(), Some(Errno::EPROTONOSUPPORT));
}
