//! The webhook listener cannot be held open: headers trickled forever are cut at the
//! header-read timeout, connections past the cap get a clear 503, and `/healthz` answers again
//! as soon as the trickling connections are gone.

use std::time::{Duration, Instant};

use junction::server::{ListenLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::rig::{Rig, fast};

/// Reads what the server sends until it closes the connection (or `within` passes).
async fn answer(stream: &mut TcpStream, within: Duration) -> String {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_the_cap_refuses_clearly() {
    let rig = Rig::start(fast).await;
    let limits = ListenLimits {
        max_connections: 8,
        header_read_timeout: Duration::from_secs(1),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        junction::server::app(rig.engine.clone()),
        limits,
        std::future::pending(),
    ));

    // Eight clients take every slot, each sending a header line every 200 ms, never the end.
    let mut tricklers = Vec::new();
    for i in 0..8 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: junction\r\n")
            .await
            .unwrap();
        tricklers.push(tokio::spawn(async move {
            let started = Instant::now();
            for n in 0.. {
                let line = format!("x-slow-{i}-{n}: still typing\r\n");
                if stream.write_all(line.as_bytes()).await.is_err() {
                    return started.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                // The server closed it: a read sees the end (or an error).
                let mut probe = [0u8; 1];
                if let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await
                {
                    return started.elapsed();
                }
                assert!(started.elapsed() < Duration::from_secs(30), "never cut off");
            }
            unreachable!()
        }));
    }
    // Give the eight a moment to be accepted, then a ninth is refused at once, clearly.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut ninth = TcpStream::connect(addr).await.unwrap();
    let _ = ninth
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: junction\r\n\r\n")
        .await;
    let refused = answer(&mut ninth, Duration::from_secs(5)).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("too many open connections"), "{refused}");

    // The trickling connections are closed at the header-read timeout...
    for t in tricklers {
        let lasted = t.await.unwrap();
        assert!(
            lasted < Duration::from_secs(10),
            "a trickling connection lasted {lasted:?}"
        );
    }
    // ...and /healthz answers on a fresh connection.
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
