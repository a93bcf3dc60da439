export interface UserRecord {
  id: string;
  name: string;
  username: string;
  /** The date of birth as YYYYMMDD. */
  birthday: number;
  email: string;
}

/** The demo's six users. Usernames are also known to the reviews subgraph, which provides them. */
export const USERS: readonly UserRecord[] = [
  { id: '1', name: 'Ada Lovelace', username: '@ada', birthday: 18151210, email: 'ada@example.com' },
  { id: '2', name: 'Alan Turing', username: '@complete', birthday: 19120623, email: 'alan@example.com' },
  { id: '3', name: 'Grace Hopper', username: '@grace', birthday: 19061209, email: 'grace@example.com' },
  { id: '4', name: 'Edsger Dijkstra', username: '@ewd', birthday: 19300511, email: 'edsger@example.com' },
  { id: '5', name: 'Barbara Liskov', username: '@substitute', birthday: 19391107, email: 'barbara@example.com' },
  { id: '6', name: 'Margaret Hamilton', username: '@apollo11', birthday: 19360817, email: 'margaret@example.com' },
];
