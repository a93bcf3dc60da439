import { gql, type TypedDocumentNode } from '@apollo/client/core';
import createReviewSource from './CreateReview.graphql';
import meSource from './Me.graphql';
import topProductsSource from './TopProducts.graphql';

// The result types are written by hand for three small operations; they follow the selections in the .graphql files
// (Apollo Client adds `__typename` to every selection set, as the manifest's bodies show).

export interface ReviewAuthor {
  id: string;
  username: string | null;
}

export interface ProductReview {
  id: string;
  body: string | null;
  rating: number | null;
  author: ReviewAuthor | null;
}

export interface TopProduct {
  upc: string;
  name: string | null;
  price: number | null;
  reviews: (ProductReview | null)[] | null;
}

export interface TopProductsData {
  topProducts: (TopProduct | null)[] | null;
}

export interface TopProductsVariables {
  first?: number;
}

export interface MeData {
  me: { id: string; name: string | null; email: string | null } | null;
}

export interface CreateReviewData {
  createReview: (ProductReview & { product: { upc: string } | null }) | null;
}

export interface CreateReviewVariables {
  upc: string;
  body: string;
  rating: number;
}

export const TopProductsDocument: TypedDocumentNode<TopProductsData, TopProductsVariables> = gql(topProductsSource);
export const MeDocument: TypedDocumentNode<MeData, Record<string, never>> = gql(meSource);
export const CreateReviewDocument: TypedDocumentNode<CreateReviewData, CreateReviewVariables> = gql(createReviewSource);
