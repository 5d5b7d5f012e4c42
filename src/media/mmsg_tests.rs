//! `recvmmsg` batches on real sockets on 127.0.0.1 and ::1.
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::*;

const WAIT: Duration = Duration::from_secs(5);

async fn pair(ip: std::net::IpAddr) -> Option<(UdpSocket, UdpSocket)> {
    let rx = UdpSocket::bind((ip, 0)).await.ok()?;
    let tx = UdpSocket::bind((ip, 0)).await.ok()?;
    Some((rx, tx))
}

/// Waits for readiness, then receives one batch.
async fn recv(batch: &mut RecvBatch, rx: &UdpSocket) -> Got {
    tokio::time::timeout(WAIT, rx.readable()).await.expect("readable within the bound").unwrap();
    batch.recv(rx).unwrap()
}

#[tokio::test]
async fn one_call_returns_every_queued_datagram_and_says_when_the_queue_is_empty() {
    let (rx, tx) = pair(Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let to = rx.local_addr().unwrap();
    for i in 0..(SLOTS + 3) as u8 {
        tx.send_to(&[i; 12], to).await.unwrap();
    }
    // Loopback delivers synchronously, so all are queued once the last send returned.
    let mut batch = RecvBatch::new();
    let first = recv(&mut batch, &rx).await;
    assert_eq!(first, Got { count: SLOTS, drained: false });
    for i in 0..SLOTS {
        let (data, from) = batch.datagram(i);
        assert_eq!((data.to_vec(), from), (vec![i as u8; 12], tx.local_addr().unwrap()));
    }
    let second = recv(&mut batch, &rx).await;
    assert_eq!(second, Got { count: 3, drained: true });
    assert_eq!(batch.datagram(2).0.to_vec(), vec![SLOTS as u8 + 2; 12]);
    // Empty now: the next call says "would block" and the socket waits for readiness again.
    assert_eq!(batch.recv(&rx).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    tx.send_to(b"again", to).await.unwrap();
    assert_eq!(recv(&mut batch, &rx).await, Got { count: 1, drained: true });
    assert_eq!(batch.datagram(0).0, b"again");
}

#[tokio::test]
async fn an_oversized_datagram_comes_back_empty_and_the_next_one_whole() {
    let (rx, tx) = pair(Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let to = rx.local_addr().unwrap();
    tx.send_to(&vec![7u8; SLOT_BYTES + 100], to).await.unwrap();
    tx.send_to(&[1u8; SLOT_BYTES], to).await.unwrap();
    let mut batch = RecvBatch::new();
    assert_eq!(recv(&mut batch, &rx).await, Got { count: 2, drained: true });
    assert!(batch.datagram(0).0.is_empty(), "cut datagram handed over empty");
    assert_eq!(batch.datagram(1).0.len(), SLOT_BYTES);
}

#[tokio::test]
async fn ipv6_senders_are_reported_with_their_port() {
    // Hosts without ::1 skip the check rather than fail on the environment.
    let Some((rx, tx)) = pair(Ipv6Addr::LOCALHOST.into()).await else { return };
    tx.send_to(b"v6", rx.local_addr().unwrap()).await.unwrap();
    let mut batch = RecvBatch::new();
    assert_eq!(recv(&mut batch, &rx).await, Got { count: 1, drained: true });
    let (data, from) = batch.datagram(0);
    assert_eq!((&*data, from), (&b"v6"[..], tx.local_addr().unwrap()));
}
