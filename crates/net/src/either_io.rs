//! Async I/O for an enum whose every variant holds a stream: each call goes to the stream the
//! value holds. Written once for the accepted-connection types ([`crate::Stream`],
//! [`crate::ServerStream`]).

/// Implements tokio's `AsyncRead` and `AsyncWrite` for `$type`, whose variants `$variant` each
/// hold one `Unpin` stream (a `Box` of one too).
macro_rules! delegate_async_io {
    ($type:ty: $($variant:ident),+) => {
        impl tokio::io::AsyncRead for $type {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => std::pin::Pin::new(s).poll_read(cx, buf),)+
                }
            }
        }

        impl tokio::io::AsyncWrite for $type {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(s) => std::pin::Pin::new(s).poll_write(cx, buf),)+
                }
            }

            // Without these two, hyper cannot tell the stream takes vectored writes: it then
            // copies every answer's head and body into one buffer before writing.
            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(s) => std::pin::Pin::new(s).poll_write_vectored(cx, bufs),)+
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    $(Self::$variant(s) => s.is_write_vectored(),)+
                }
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => std::pin::Pin::new(s).poll_flush(cx),)+
                }
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => std::pin::Pin::new(s).poll_shutdown(cx),)+
                }
            }
        }
    };
}

pub(crate) use delegate_async_io;
