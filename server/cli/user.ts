/**
 * `arogya user add --username U --fhir-user Practitioner/ID` (DESIGN.md §1.1 "users"): the same as
 * `POST /auth/users`, straight into the database. The password is read from stdin (its first line), never from
 * the command line, where other users of the machine could see it in the process list.
 */
import { UserInputError } from '../auth/users';

export const USER_USAGE = `usage: arogya user add --username U --fhir-user Practitioner/ID|Patient/ID|RelatedPerson/ID [--oidc-issuer URL --oidc-subject SUB]
  the password is read from stdin (an empty line: none, for a user who signs in only through the upstream provider)`;

export interface UserAddArgs {
  username: string;
  fhirUser: string;
  /** The upstream OpenID provider's identity this user is (oidc.ts). */
  oidcIssuer?: string;
  oidcSubject?: string;
}

const OPTIONS = ['--username', '--fhir-user', '--oidc-issuer', '--oidc-subject'];

/** `add --username U --fhir-user R` (also `--flag=value`); throws UserInputError on anything else. */
export function parseUserArgs(args: string[]): UserAddArgs {
  const [sub, ...rest] = args;
  if (sub !== 'add') throw new UserInputError(sub ? `unknown subcommand '${sub}'` : 'missing subcommand');
  const values: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const [flag, inline] = rest[i].split(/=(.*)/s, 2);
    if (!OPTIONS.includes(flag)) throw new UserInputError(`unknown option '${flag}'`);
    const value = inline ?? rest[++i];
    if (value === undefined) throw new UserInputError(`${flag} needs a value`);
    values[flag] = value;
  }
  if (!values['--username'] || !values['--fhir-user']) throw new UserInputError('--username and --fhir-user are required');
  if (!values['--oidc-issuer'] !== !values['--oidc-subject']) throw new UserInputError('--oidc-issuer and --oidc-subject go together');
  return {
    username: values['--username'],
    fhirUser: values['--fhir-user'],
    ...(values['--oidc-issuer'] ? { oidcIssuer: values['--oidc-issuer'], oidcSubject: values['--oidc-subject'] } : {}),
  };
}

/** The first line of stdin (without its line ending); '' when stdin is empty. */
export async function readPasswordLine(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  let text = '';
  for await (const chunk of stdin) {
    text += chunk.toString();
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/, 1)[0] ?? '';
}
