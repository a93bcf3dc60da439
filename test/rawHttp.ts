import type { Socket } from 'node:net';

/** Sends one request on a kept-alive connection and reads its whole response (framed by content-length). */
export function exchange(socket: Socket, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(text);
      if (end !== -1 && length?.[1] !== undefined && text.length >= end + 4 + Number(length[1])) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before a whole response arrived: ${JSON.stringify(text)}`)));
    socket.write(request);
  });
}
