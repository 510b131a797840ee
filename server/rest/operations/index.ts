/**
 * The operation registry: every $operation the server implements, with the level it runs at and its official
 * OperationDefinition. The router dispatches from it and the CapabilityStatement is generated from it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RestContext } from '../context';
import { validateOperation } from './validate';

export interface OperationHandler {
  name: string;
  definition: string;
  /** Levels it can be invoked at; `types` undefined = every resource type. */
  type: boolean;
  instance: boolean;
  system: boolean;
  /** Methods allowed (operations that change nothing also allow GET). */
  methods: ('GET' | 'POST')[];
  handle(ctx: RestContext, req: FastifyRequest, reply: FastifyReply, type?: string, id?: string): Promise<FastifyReply>;
}

export const operations: OperationHandler[] = [
  {
    name: 'validate',
    definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
    type: true,
    instance: true,
    system: false,
    methods: ['GET', 'POST'],
    handle: (ctx, req, reply, type, id) => validateOperation(ctx, req, reply, type!, id),
  },
];

export function findOperation(name: string): OperationHandler | undefined {
  return operations.find((o) => `$${o.name}` === name);
}
