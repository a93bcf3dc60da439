import type { Logger } from '../common/logger.js';

export interface Tracing {
  /** Sends what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * OpenTelemetry traces over OTLP/HTTP, through the standard SDK: @apollo/gateway already creates spans for every
 * request, plan and subgraph fetch (gateway.request, gateway.plan, gateway.fetch ...), and this exports them.
 * Only called when an OTLP endpoint is configured; the SDK is not even loaded otherwise, so no exporter exists and
 * nothing is sent anywhere.
 */
export async function startTracing(options: { endpoint: string; serviceName: string; logger: Logger }): Promise<Tracing> {
  const [{ NodeTracerProvider }, { BatchSpanProcessor }, { OTLPTraceExporter }, { Resource }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/$/, '')}/v1/traces` });
  const provider = new NodeTracerProvider({
    resource: new Resource({ 'service.name': options.serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1_000 })],
  });
  provider.register();
  options.logger.info({ endpoint: options.endpoint }, 'exporting traces over OTLP');
  return { shutdown: () => provider.shutdown() };
}
