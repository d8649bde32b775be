/**
 * A web handler (such as {@link createJobsHandler}'s) as a Fastify plugin.
 * Only Fastify's types are imported: the http subpath never loads a host
 * framework at runtime.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { JobStorageError } from "../errors.js";
import { toNodeHandler, type NodeHandlerOptions } from "./node-adapter.js";

/** Options of {@link toFastifyPlugin}: those of {@link toNodeHandler}. */
export type FastifyPluginOptions = NodeHandlerOptions;

/**
 * Turns a web handler into a Fastify 5 plugin serving every method
 * under the handler's `prefix`.
 *
 * - Register it either at the handler's prefix
 *   (`app.register(plugin, { prefix: handler.prefix })`) or with no prefix;
 *   any other prefix throws `INVALID_INPUT`, since the handler would answer
 *   404 to every URL under it.
 * - Inside the plugin (Fastify encapsulates it) no body parser runs: every
 *   request body, file uploads included, reaches the handler as the raw
 *   stream, with the handler's own size limits. The host's other routes keep
 *   their parsers.
 * - Each request is answered through `reply.hijack()` and
 *   {@link toNodeHandler} (backpressure, client disconnects, early answers
 *   to unread bodies); Fastify's `onRequest` and `preHandler` hooks (auth,
 *   rate limits) still run before it, its `onSend` hooks do not.
 *
 * @throws {JobStorageError} `INVALID_INPUT` when registered under another prefix than the handler's.
 * @example
 * ```ts
 * const handler = createJobsHandler(storage, { authorize });
 * await app.register(toFastifyPlugin(handler), { prefix: handler.prefix });
 * ```
 */
export function toFastifyPlugin(
  handler: ((request: Request) => Promise<Response>) & { readonly prefix?: string },
  options: FastifyPluginOptions = {},
): FastifyPluginAsync {
  const listener = toNodeHandler(handler, options);
  const handlerPrefix = typeof handler.prefix === "string" ? handler.prefix : "";

  return async function ephemeralJobsPlugin(app: FastifyInstance): Promise<void> {
    const mounted = app.prefix.replace(/\/+$/, "");
    let base: string;
    if (mounted === handlerPrefix) base = "";
    else if (mounted === "") base = handlerPrefix;
    else {
      throw new JobStorageError(
        "INVALID_INPUT",
        `toFastifyPlugin(): registered under prefix ${JSON.stringify(app.prefix)}, but the handler serves ${JSON.stringify(handlerPrefix || "/")}: ` +
          "register it with { prefix: handler.prefix } or with no prefix",
      );
    }
    // Pass every body through unread, as the stream toNodeHandler reads with its own limits.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", (_request: FastifyRequest, _payload: unknown, done: (error: Error | null) => void) => done(null));

    const route = (request: FastifyRequest, reply: FastifyReply): void => {
      reply.hijack();
      listener(request.raw, reply.raw);
    };
    app.all(base === "" ? "/" : base, route);
    app.all(`${base}/*`, route);
  };
}
