/** The storefront's version, sent as `apollographql-client-version`: set by the bundler (frontend/build/bundle.ts). */
declare const STOREFRONT_VERSION: string;
