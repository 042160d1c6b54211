-- The login sources each user trusts (ADR 0008), kept in Redis alone before: every Redis restart (the
-- compose Redis keeps nothing on disk) forgot them, so the owner's usual address got the new-login mail
-- again and fell under the per-account login limit that strangers can exhaust. A row per (user, source),
-- the source a pseudonym of the client address, trusted until 90 days after trusted_at.
CREATE TABLE "trusted_sources" (
	"user_id" uuid NOT NULL,
	"source" text NOT NULL,
	"trusted_at" timestamp with time zone NOT NULL,
	CONSTRAINT "trusted_sources_user_id_source_pk" PRIMARY KEY("user_id","source")
);
--> statement-breakpoint
ALTER TABLE "trusted_sources" ADD CONSTRAINT "trusted_sources_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;
