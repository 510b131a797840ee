/**
 * SMART on FHIR authorization state (issue 11, DESIGN.md §1.1). Everything a flow needs between two requests
 * lives here, so that every flow works whichever worker process takes each request, and after a restart.
 * Secrets (client secrets, passwords, codes, refresh tokens, launch ids) are stored only as hashes.
 * These tables are small and global: on Citus they are reference tables on the coordinator (DESIGN.md §3).
 */
exports.up = async (knex) => {
  await knex.raw(`
    -- OAuth clients (RFC 7591 registration, and the bootstrap admin client)
    CREATE TABLE auth_client (
      client_id text PRIMARY KEY,
      client_name text,
      secret_hash text,
      auth_method text NOT NULL CHECK (auth_method IN ('none', 'client_secret_basic', 'private_key_jwt')),
      redirect_uris text[] NOT NULL DEFAULT '{}',
      grant_types text[] NOT NULL DEFAULT '{}',
      scope text,
      jwks jsonb,
      jwks_uri text,
      launch_uri text,
      admin boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    -- people who sign in: local (password) or through the upstream OpenID provider (issuer + subject)
    CREATE TABLE auth_user (
      id text PRIMARY KEY,
      username text NOT NULL UNIQUE,
      password_hash text,
      fhir_user text NOT NULL,
      oidc_issuer text,
      oidc_subject text,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (oidc_issuer, oidc_subject)
    );

    -- the server's signing keys: the newest is used to sign; the JWKS serves every key not yet expired
    CREATE TABLE auth_signing_key (
      kid text PRIMARY KEY,
      alg text NOT NULL,
      private_jwk jsonb NOT NULL,
      public_jwk jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );

    -- a browser's authorization request between the pages (sign-in → patient picker → consent)
    CREATE TABLE auth_request (
      id_hash text PRIMARY KEY,
      params jsonb NOT NULL,
      user_id text,
      patient text,
      csrf text NOT NULL,
      expires_at timestamptz NOT NULL
    );

    -- authorization codes: single use, short-lived, bound to client, redirect URI and PKCE challenge
    CREATE TABLE auth_code (
      code_hash text PRIMARY KEY,
      client_id text NOT NULL,
      redirect_uri text NOT NULL,
      user_id text NOT NULL,
      scope text NOT NULL,
      code_challenge text NOT NULL,
      context jsonb NOT NULL DEFAULT '{}',
      expires_at timestamptz NOT NULL,
      used_at timestamptz
    );

    -- refresh tokens, rotated on use; a family is every token descended from one authorization
    CREATE TABLE auth_refresh (
      token_hash text PRIMARY KEY,
      family_id text NOT NULL,
      client_id text NOT NULL,
      user_id text,
      scope text NOT NULL,
      context jsonb NOT NULL DEFAULT '{}',
      expires_at timestamptz,
      used_at timestamptz,
      revoked_at timestamptz
    );
    CREATE INDEX auth_refresh_family ON auth_refresh (family_id);

    -- client assertion ids seen (private_key_jwt): a jti is accepted once per client until it expires
    CREATE TABLE auth_jti (
      client_id text NOT NULL,
      jti text NOT NULL,
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (client_id, jti)
    );

    -- EHR launch contexts (POST /auth/launch): single use, 5 minutes
    CREATE TABLE auth_launch (
      launch_hash text PRIMARY KEY,
      client_id text,
      context jsonb NOT NULL,
      created_by text,
      expires_at timestamptz NOT NULL,
      used_at timestamptz
    );

    -- remembered consent (an allow, never a deny) for a user, a client and a set of scopes
    CREATE TABLE auth_consent (
      user_id text NOT NULL,
      client_id text NOT NULL,
      scope text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, client_id, scope)
    );

    -- fixed-window counters (sign-in attempts per user and per address)
    CREATE TABLE auth_rate (
      key text PRIMARY KEY,
      window_start timestamptz NOT NULL,
      count integer NOT NULL
    );

    -- revoked access tokens (by jti) until they would have expired anyway
    CREATE TABLE auth_revoked (
      jti text PRIMARY KEY,
      revoked_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX auth_revoked_at ON auth_revoked (revoked_at);
  `);
};

exports.down = async () => {
  throw new Error('forward-only migrations');
};
